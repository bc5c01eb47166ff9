using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests;

public sealed class TokenizerLoaderTests
{
    private static string Fixture(string form) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bpe", form);

    [Fact]
    public void Picks_the_implementation_from_the_files_present()
    {
        using var byteDirectory = new TempTokenizerDirectory();
        new ByteTokenizer().Save(byteDirectory.Path);

        Assert.IsType<ByteTokenizer>(TokenizerLoader.Load(byteDirectory.Path));
        Assert.IsType<BpeTokenizer>(TokenizerLoader.Load(Fixture("tokenizer_json")));
        Assert.IsType<BpeTokenizer>(TokenizerLoader.Load(Fixture("vocab_merges")));
    }

    [Fact]
    public void Directory_without_tokenizer_files_names_the_directory_and_the_expected_files()
    {
        using var directory = new TempTokenizerDirectory();

        var error = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(directory.Path));

        Assert.Contains(directory.Path, error.Message);
        Assert.Contains("byte_tokenizer.json", error.Message);
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("vocab.json + merges.txt", error.Message);
    }

    [Fact]
    public void Vocab_without_merges_says_which_file_is_missing()
    {
        using var directory = new TempTokenizerDirectory();
        File.Copy(Path.Combine(Fixture("vocab_merges"), "vocab.json"), Path.Combine(directory.Path, "vocab.json"));

        var error = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.Load(directory.Path));

        Assert.Contains("merges.txt is not", error.Message);
    }

    [Fact]
    public void Missing_directory_is_reported()
    {
        var missing = Path.Combine(Path.GetTempPath(), "rlhf-tok-missing-" + Guid.NewGuid().ToString("N"));

        var error = Assert.Throws<DirectoryNotFoundException>(() => TokenizerLoader.Load(missing));

        Assert.Contains(missing, error.Message);
    }
}
