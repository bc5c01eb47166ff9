using System.Text.Json.Nodes;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Modeling.Tests;

/// <summary>
/// Against the hand-made fixture in Fixtures/bpe: ids 0..255 are the byte-level characters of bytes 0..255
/// (so 'Ġ' = space = 32), then merges 256 "Ġ t", 257 "h e", 258 "Ġt he", 259 "i n", 260 "Ġ c", 261 "a t",
/// 262 "Ġc at", 263 "o n", 264 "3 4"; 265 "Ġdog" is in the vocab but no merge makes it; 266 &lt;|endoftext|&gt;
/// (in the vocab, as in GPT-2), 267 &lt;|im_start|&gt;, 268 &lt;|im_end|&gt; (added). EOS is &lt;|im_end|&gt;, PAD &lt;|endoftext|&gt;.
/// </summary>
public sealed class BpeTokenizerTests
{
    private const string Sentence = "the cat sat on the mat";
    private static readonly int[] SentenceIds = [116, 257, 262, 32, 115, 261, 32, 263, 258, 32, 109, 261];

    public static TheoryData<string> FileForms => ["tokenizer_json", "vocab_merges"];

    private static string Fixture(string form) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "bpe", form);

    [Theory]
    [MemberData(nameof(FileForms))]
    public void Sentence_encodes_to_the_ids_the_merges_imply(string form)
    {
        var tokenizer = BpeTokenizer.Load(Fixture(form));

        var ids = tokenizer.Encode(Sentence);

        // "the" -> t + "he"; " cat" -> one token via "Ġc" + "at"; " the" -> one token via "Ġt" + "he".
        Assert.Equal(SentenceIds, ids);
        Assert.Equal(Sentence, tokenizer.Decode(ids));
    }

    [Theory]
    [MemberData(nameof(FileForms))]
    public void Special_tokens_and_roles_come_from_the_files(string form)
    {
        var tokenizer = BpeTokenizer.Load(Fixture(form));

        Assert.Equal(269, tokenizer.VocabSize);
        Assert.Equal(268, tokenizer.EosId);
        Assert.Equal(266, tokenizer.PadId);
        Assert.Null(tokenizer.BosId);
        Assert.Equal(
            new Dictionary<string, int> { ["<|endoftext|>"] = 266, ["<|im_start|>"] = 267, ["<|im_end|>"] = 268 },
            tokenizer.SpecialTokens);
    }

    [Theory]
    [MemberData(nameof(FileForms))]
    public void Special_tokens_written_literally_encode_as_single_ids(string form)
    {
        var tokenizer = BpeTokenizer.Load(Fixture(form));

        var ids = tokenizer.Encode("<|im_start|>user\nhi<|im_end|><|endoftext|>");

        Assert.Equal([267, 117, 115, 101, 114, 10, 104, 105, 268, 266], ids);
        Assert.Equal("<|im_start|>user\nhi<|im_end|><|endoftext|>", tokenizer.Decode(ids));
        Assert.Equal("user\nhi", tokenizer.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Both_file_forms_give_identical_ids()
    {
        const string text = "<|im_start|>system\nthe cat is in the inn, 1234 times.<|im_end|>\n  héllo 世界 🎉\t\n\nthe end<|endoftext|>";
        var fromJson = BpeTokenizer.Load(Fixture("tokenizer_json")).Encode(text);
        var fromVocab = BpeTokenizer.Load(Fixture("vocab_merges")).Encode(text);

        Assert.Equal(fromJson, fromVocab);
        Assert.Contains(258, fromJson);
        Assert.Contains(259, fromJson);
        Assert.Contains(264, fromJson);
    }

    [Theory]
    [InlineData("")]
    [InlineData("don't stop: it's 2024, and 12345 + 678 = 13023!")]
    [InlineData("  leading and trailing spaces  ")]
    [InlineData("a\n\n\tb   c\r\n")]
    [InlineData("héllo wörld 日本語 🎉 👨‍👩‍👧 e\u0301")]
    public void Decode_restores_the_exact_text(string text)
    {
        var tokenizer = BpeTokenizer.Load(Fixture("tokenizer_json"));

        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Truncated_utf8_decodes_to_replacement_characters()
    {
        var tokenizer = BpeTokenizer.Load(Fixture("tokenizer_json"));

        Assert.Equal("\uFFFD", tokenizer.Decode([0xE4, 0xB8]));
        Assert.Equal("h\uFFFD<|im_end|>", tokenizer.Decode([104, 0xE4, 268]));
    }

    [Fact]
    public void Id_outside_the_vocabulary_is_rejected()
    {
        var tokenizer = BpeTokenizer.Load(Fixture("tokenizer_json"));

        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([104, 269]));
    }

    [Fact]
    public void String_merges_and_pair_merges_give_the_same_ids()
    {
        using var directory = new TempTokenizerDirectory();
        WriteVariant(directory.Path, json =>
        {
            var merges = json["model"]!["merges"]!.AsArray();
            var asStrings = merges.Select(m => (JsonNode?)JsonValue.Create($"{m![0]} {m[1]}")).ToArray();
            json["model"]!["merges"] = new JsonArray(asStrings);
        });

        Assert.Equal(SentenceIds, BpeTokenizer.Load(directory.Path).Encode(Sentence));
    }

    public static TheoryData<string, int[]> PreTokenizers => new()
    {
        // GPT-2 regex: " 1234" is one word, so the "3 4" merge applies.
        { """{ "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true }""", [120, 32, 49, 50, 264] },
        // add_prefix_space: "x" becomes " x".
        { """{ "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true }""", [32, 120, 32, 49, 50, 264] },
        // Llama 3: digits in groups of three, so "3" and "4" land in different words.
        {
            """
            { "type": "Sequence", "pretokenizers": [
              { "type": "Split", "pattern": { "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" }, "behavior": "Isolated", "invert": false },
              { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false } ] }
            """,
            [120, 32, 49, 50, 51, 52]
        },
        // SmolLM2: every digit is its own word.
        {
            """
            { "type": "Sequence", "pretokenizers": [
              { "type": "Digits", "individual_digits": true },
              { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true } ] }
            """,
            [120, 32, 49, 50, 51, 52]
        },
    };

    [Theory]
    [MemberData(nameof(PreTokenizers))]
    public void The_pre_tokenizer_in_tokenizer_json_decides_the_words(string preTokenizer, int[] expected)
    {
        using var directory = new TempTokenizerDirectory();
        WriteVariant(directory.Path, json => json["pre_tokenizer"] = JsonNode.Parse(preTokenizer));
        var tokenizer = BpeTokenizer.Load(directory.Path);

        var ids = tokenizer.Encode("x 1234");

        Assert.Equal(expected, ids);
    }

    [Fact]
    public void Pre_tokenizer_without_byte_level_is_not_supported()
    {
        using var directory = new TempTokenizerDirectory();
        WriteVariant(directory.Path, json => json["pre_tokenizer"] = JsonNode.Parse("""{ "type": "Metaspace", "replacement": "▁" }"""));

        var error = Assert.Throws<NotSupportedException>(() => BpeTokenizer.Load(directory.Path));

        Assert.Contains("Metaspace", error.Message);
    }

    [Fact]
    public void Ignore_merges_takes_whole_words_from_the_vocab()
    {
        using var directory = new TempTokenizerDirectory();
        WriteVariant(directory.Path, json => json["model"]!["ignore_merges"] = true);

        Assert.Equal([32, 100, 111, 103], BpeTokenizer.Load(Fixture("tokenizer_json")).Encode(" dog"));
        Assert.Equal([265], BpeTokenizer.Load(directory.Path).Encode(" dog"));
        Assert.Equal(SentenceIds, BpeTokenizer.Load(directory.Path).Encode(Sentence));
    }

    [Fact]
    public void Nfc_normalizer_composes_characters_before_encoding()
    {
        using var directory = new TempTokenizerDirectory();
        WriteVariant(directory.Path, json => json["normalizer"] = JsonNode.Parse("""{ "type": "NFC" }"""));

        Assert.Equal([101, 204, 129], BpeTokenizer.Load(Fixture("tokenizer_json")).Encode("e\u0301"));
        Assert.Equal([195, 169], BpeTokenizer.Load(directory.Path).Encode("e\u0301"));
    }

    [Theory]
    [MemberData(nameof(FileForms))]
    public void Save_writes_the_source_files_so_the_checkpoint_loads_alone(string form)
    {
        using var directory = new TempTokenizerDirectory();
        var tokenizer = BpeTokenizer.Load(Fixture(form));

        tokenizer.Save(directory.Path);
        var loaded = TokenizerLoader.Load(directory.Path);

        Assert.IsType<BpeTokenizer>(loaded);
        foreach (var source in Directory.GetFiles(Fixture(form)))
            Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(Path.Combine(directory.Path, Path.GetFileName(source))));
        Assert.Equal(SentenceIds, loaded.Encode(Sentence));
        Assert.Equal((269, 268, 266), (loaded.VocabSize, loaded.EosId, loaded.PadId));
    }

    /// <summary>Writes a copy of the tokenizer.json fixture (and its config) with one change applied.</summary>
    private static void WriteVariant(string directory, Action<JsonNode> change)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixture("tokenizer_json"), "tokenizer.json")))!;
        change(json);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), json.ToJsonString());
        File.Copy(Path.Combine(Fixture("tokenizer_json"), "tokenizer_config.json"), Path.Combine(directory, "tokenizer_config.json"));
    }
}
