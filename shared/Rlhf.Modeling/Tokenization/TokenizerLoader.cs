namespace Rlhf.Modeling.Tokenization;

/// <summary>Opens whichever tokenizer a model or checkpoint directory holds.</summary>
public static class TokenizerLoader
{
    /// <summary>
    /// Picks the implementation from the files present, in this order: <c>byte_tokenizer.json</c> (<see cref="ByteTokenizer"/>),
    /// <c>tokenizer.json</c>, then <c>vocab.json</c> + <c>merges.txt</c> (<see cref="BpeTokenizer"/>).
    /// </summary>
    public static ITextTokenizer Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Tokenizer directory '{directory}' does not exist.");

        bool Has(string fileName) => File.Exists(Path.Combine(directory, fileName));

        if (Has(ByteTokenizer.FileName))
            return ByteTokenizer.Load(directory);
        if (Has(HuggingFaceTokenizerFiles.TokenizerJson)
            || (Has(HuggingFaceTokenizerFiles.VocabJson) && Has(HuggingFaceTokenizerFiles.MergesTxt)))
            return BpeTokenizer.Load(directory);

        var found = Has(HuggingFaceTokenizerFiles.VocabJson) ? $" ({HuggingFaceTokenizerFiles.VocabJson} is there but {HuggingFaceTokenizerFiles.MergesTxt} is not)"
            : Has(HuggingFaceTokenizerFiles.MergesTxt) ? $" ({HuggingFaceTokenizerFiles.MergesTxt} is there but {HuggingFaceTokenizerFiles.VocabJson} is not)"
            : "";
        throw new FileNotFoundException(
            $"No tokenizer in '{directory}'{found}: expected {ByteTokenizer.FileName}, {HuggingFaceTokenizerFiles.TokenizerJson}, " +
            $"or {HuggingFaceTokenizerFiles.VocabJson} + {HuggingFaceTokenizerFiles.MergesTxt}.");
    }
}
