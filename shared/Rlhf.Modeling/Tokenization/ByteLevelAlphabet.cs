namespace Rlhf.Modeling.Tokenization;

/// <summary>
/// GPT-2's byte-to-character table (<c>bytes_to_unicode</c>): printable Latin-1 bytes map to themselves, the other
/// 68 bytes to U+0100 and up, so byte 0x20 (space) is 'Ġ'. Byte-level BPE vocabularies are written in these characters.
/// </summary>
internal static class ByteLevelAlphabet
{
    public static IReadOnlyList<char> ByteToChar { get; } = Build();

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
            chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    private static char[] Build()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
            table[b] = printable ? (char)b : (char)next++;
        }
        return table;
    }
}
