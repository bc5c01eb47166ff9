namespace Rlhf.Modeling.Tests;

/// <summary>A fresh directory under the system temp folder, deleted on dispose.</summary>
internal sealed class TempTokenizerDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("rlhf-tok-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
