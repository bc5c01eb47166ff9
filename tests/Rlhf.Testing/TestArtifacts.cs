namespace Rlhf.Testing;

/// <summary>Files tests leave for people to look at, under <c>TestResults/</c> of the repository.</summary>
public static class TestArtifacts
{
    /// <summary>The path of screenshot <paramref name="name"/> under <c>TestResults/screenshots/</c> (the folder is created).</summary>
    public static string Screenshot(string name)
    {
        var directory = Path.Combine(ExternalTool.RepositoryRoot(), "TestResults", "screenshots");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, name);
    }
}
