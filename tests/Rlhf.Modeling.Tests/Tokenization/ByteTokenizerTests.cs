using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests;

public sealed class ByteTokenizerTests
{
    private readonly ByteTokenizer tokenizer = new();

    [Theory]
    [InlineData("")]
    [InlineData("plain ascii, with punctuation!")]
    [InlineData("héllo wörld ñ")]
    [InlineData("日本語のテキストと中文")]
    [InlineData("emoji 🎉 👍🏽 family 👨‍👩‍👧 flag 🇳🇴")]
    [InlineData("e\u0301 a\u0308 combining marks stay decomposed")]
    [InlineData("tabs\tand\r\nnewlines\n\n  spaces  ")]
    public void Unicode_text_round_trips(string text)
    {
        var ids = tokenizer.Encode(text);

        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Count);
        Assert.Equal(text, tokenizer.Decode(ids));
    }

    [Fact]
    public void Text_encodes_to_its_utf8_bytes()
    {
        Assert.Equal([72, 105, 33], tokenizer.Encode("Hi!"));
        Assert.Equal([0xC3, 0xA9], tokenizer.Encode("é"));
        Assert.Equal([0xF0, 0x9F, 0x98, 0x80], tokenizer.Encode("😀"));
    }

    [Fact]
    public void Default_layout_matches_the_tiny_model_vocab()
    {
        Assert.Equal(260, tokenizer.VocabSize);
        Assert.Equal(256, tokenizer.PadId);
        Assert.Equal(257, tokenizer.BosId);
        Assert.Equal(259, tokenizer.EosId);
        Assert.Equal(
            new Dictionary<string, int> { ["<|pad|>"] = 256, ["<|bos|>"] = 257, ["<|im_start|>"] = 258, ["<|im_end|>"] = 259 },
            tokenizer.SpecialTokens);
    }

    [Fact]
    public void Special_tokens_written_literally_encode_as_single_ids()
    {
        var ids = tokenizer.Encode("<|im_start|>user\nhi<|im_end|><|pad|>");

        Assert.Equal([258, 117, 115, 101, 114, 10, 104, 105, 259, 256], ids);
        Assert.Equal("<|im_start|>user\nhi<|im_end|><|pad|>", tokenizer.Decode(ids));
    }

    [Fact]
    public void Incomplete_special_token_text_stays_bytes()
    {
        var ids = tokenizer.Encode("<|im_start");

        Assert.Equal(10, ids.Count);
        Assert.All(ids, id => Assert.InRange(id, 0, 255));
    }

    [Fact]
    public void Overlapping_special_tokens_match_the_longest()
    {
        var overlapping = new ByteTokenizer(["<|pad|>", "<|end", "<|end|>"], bosToken: null, eosToken: "<|end|>", padToken: "<|pad|>");

        Assert.Equal([258, 257, 33], overlapping.Encode("<|end|><|end!"));
    }

    [Fact]
    public void Decode_can_skip_special_tokens()
    {
        var ids = tokenizer.Encode("<|bos|><|im_start|>assistant\nok<|im_end|>");

        Assert.Equal("assistant\nok", tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Invalid_or_truncated_utf8_decodes_to_replacement_characters()
    {
        Assert.Equal("\uFFFD", tokenizer.Decode([0xE4, 0xB8]));
        Assert.Equal("\uFFFDa", tokenizer.Decode([0xFF, 0x61]));
        // The special token cuts the pending character short; the bytes after it decode on their own.
        Assert.Equal("h\uFFFD<|im_end|>\u4E16", tokenizer.Decode([0x68, 0xE4, 0xB8, 259, 0xE4, 0xB8, 0x96]));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(260)]
    public void Id_outside_the_vocabulary_is_rejected(int id)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([65, id]));

        Assert.Contains(id.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Fact]
    public void Save_then_load_gives_the_same_tokenizer()
    {
        using var directory = new TempTokenizerDirectory();

        tokenizer.Save(directory.Path);
        var loaded = TokenizerLoader.Load(directory.Path);

        Assert.IsType<ByteTokenizer>(loaded);
        Assert.Contains("\"<|im_end|>\"", File.ReadAllText(System.IO.Path.Combine(directory.Path, ByteTokenizer.FileName)));
        Assert.Equal(tokenizer.SpecialTokens, loaded.SpecialTokens);
        Assert.Equal((260, 257, 259, 256), (loaded.VocabSize, loaded.BosId, loaded.EosId, loaded.PadId));
        Assert.Equal(tokenizer.Encode("<|im_start|>user\n日本 🎉<|im_end|>"), loaded.Encode("<|im_start|>user\n日本 🎉<|im_end|>"));
    }

    [Fact]
    public void Custom_special_tokens_survive_save_and_load()
    {
        using var directory = new TempTokenizerDirectory();
        var custom = new ByteTokenizer(["<|pad|>", "<|eot|>"], bosToken: null, eosToken: "<|eot|>", padToken: "<|pad|>");

        custom.Save(directory.Path);
        var loaded = ByteTokenizer.Load(directory.Path);

        Assert.Equal((258, (int?)null, 257, 256), (loaded.VocabSize, loaded.BosId, loaded.EosId, loaded.PadId));
        Assert.Equal([257, 120], loaded.Encode("<|eot|>x"));
    }

    [Fact]
    public void Role_token_that_is_not_a_special_token_is_rejected()
    {
        var error = Assert.Throws<ArgumentException>(() => new ByteTokenizer(["<|pad|>"], null, "<|end|>", "<|pad|>"));

        Assert.Contains("<|end|>", error.Message);
    }

    [Fact]
    public void Malformed_file_is_reported_with_its_path()
    {
        using var directory = new TempTokenizerDirectory();
        var path = System.IO.Path.Combine(directory.Path, ByteTokenizer.FileName);
        File.WriteAllText(path, """{ "type": "bpe" }""");

        var error = Assert.Throws<InvalidDataException>(() => ByteTokenizer.Load(directory.Path));

        Assert.Contains(path, error.Message);
    }
}
