using System.Diagnostics;

namespace Rlhf.Testing;

/// <summary>
/// Reads a service's log file while the service may still hold it open. Services write their logs from a background
/// writer and flush the file every second, so a line logged by an action shows up shortly after it, not at once.
/// </summary>
public static class ServiceLogFile
{
    /// <summary>The file's text so far (opened shared for reading, writing and deleting).</summary>
    public static async Task<string> ReadAsync(string path, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        return await reader.ReadToEndAsync(cancellationToken);
    }

    /// <summary>Rereads the file until <paramref name="done"/> holds or 10 s pass; returns the last text read.</summary>
    public static async Task<string> WaitForAsync(string path, Func<string, bool> done, CancellationToken cancellationToken)
    {
        var text = await ReadAsync(path, cancellationToken);
        for (var waited = Stopwatch.StartNew(); !done(text) && waited.Elapsed < TimeSpan.FromSeconds(10);)
        {
            await Task.Delay(50, cancellationToken);
            text = await ReadAsync(path, cancellationToken);
        }

        return text;
    }
}
