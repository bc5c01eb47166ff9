namespace Rlhf.Testing;

/// <summary>
/// Removes a test's temporary directory. A run that stopped its services may still have a training step inside
/// LibTorch on another thread (the host stops waiting after its grace period), which writes one last checkpoint a
/// moment later: deletion is retried until the directory stays empty, for at most <c>limit</c> (default 60 s).
/// A directory that cannot be removed by then is left in the temp folder; the test's own assertions have run.
/// </summary>
public static class TestDirectory
{
    public static void Delete(string path, TimeSpan? limit = null)
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(60));
        while (Directory.Exists(path))
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Console.Error.WriteLine($"TestDirectory: left {path} behind ({e.Message})");
                    return;
                }

                Thread.Sleep(250);
            }
        }
    }
}
