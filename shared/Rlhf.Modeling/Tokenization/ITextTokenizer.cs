namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// Text to token ids and back, as the model and the chat template see it. <see cref="Encode"/> never adds BOS or EOS
/// by itself; special-token strings written literally in the text (e.g. <c>&lt;|im_start|&gt;</c>) become their single
/// special ids, which is what lets a rendered chat template be encoded as plain text.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Number of ids the model must embed: highest id + 1, special tokens included.</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the tokenizer has none.</summary>
    int? BosId { get; }

    /// <summary>The id that ends an assistant turn (e.g. <c>&lt;|im_end|&gt;</c> for ChatML); generation stops on it.</summary>
    int EosId { get; }

    /// <summary>Id used to pad batches; never attended to or trained on.</summary>
    int PadId { get; }

    /// <summary>Special token strings and their ids.</summary>
    IReadOnlyDictionary<string, int> SpecialTokens { get; }

    IReadOnlyList<int> Encode(string text);

    /// <summary>
    /// Encodes text made of pieces: special-token strings become special ids only in trusted pieces (a chat template's
    /// own text); in the others (what a user typed) they are ordinary text, so nobody can forge a role or end a turn.
    /// Ordinary text is cut as if the pieces were one string.
    /// </summary>
    IReadOnlyList<int> Encode(IReadOnlyList<TextPiece> pieces);

    /// <summary>
    /// Turns ids back into text. Bytes that do not form valid UTF-8 (e.g. a truncated multi-byte character) become
    /// U+FFFD. An id outside the vocabulary is an <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false);

    /// <summary>Writes the files <see cref="TokenizerLoader.Load"/> needs into <paramref name="directory"/> (created if missing).</summary>
    void Save(string directory);
}

/// <summary>A piece of text to encode; special-token strings count only where <paramref name="Trusted"/> is true.</summary>
public readonly record struct TextPiece(string Text, bool Trusted);
