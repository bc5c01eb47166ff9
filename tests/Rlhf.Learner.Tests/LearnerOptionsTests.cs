using Rlhf.Learner.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Learner.Tests;

/// <summary>Options are validated when the host starts; without a model the learner stays idle.</summary>
public sealed class LearnerOptionsTests : IDisposable
{
    readonly TinyPolicy policy = new(seed: 7);
    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-state-{Guid.NewGuid():N}");

    public void Dispose()
    {
        policy.Dispose();
        if (Directory.Exists(stateDirectory))
            Directory.Delete(stateDirectory, recursive: true);
    }

    [Theory]
    [InlineData("Learner:BatchSize", "0", "BatchSize.* must be between 1 and 4096")]
    [InlineData("Learner:BatchTimeLimit", "00:00:00", "BatchTimeLimit must be positive")]
    [InlineData("Learner:KlBound", "-1", "KlBound.* must be between 0")]
    [InlineData("Learner:Ppo:ClipEpsilon", "1.5", "Ppo: .*ClipEpsilon")]
    [InlineData("Learner:Sft:Optimizer:LearningRate", "0", "Sft: .*LearningRate")]
    [InlineData("Learner:QueuePrefix", "Learner_Queue", "QueuePrefix may hold lower-case letters")]
    [InlineData("Learner:ModelPath", "/nonexistent/model", "ModelPath '/nonexistent/model' is not a checkpoint directory")]
    [InlineData("Learner:Ppo:PtxCoef", "0.5", "PtxCoef is 0.5 but PtxCorpusPath '' is not an existing JSONL file")]
    [InlineData("Learner:PtxCorpusPath", "/tmp/corpus.jsonl", "PtxCorpusPath is set but Ppo:PtxCoef is 0")]
    public async Task An_invalid_option_stops_the_host_and_names_the_key(string key, string value, string pattern)
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings[key] = value;

        var error = await Record.ExceptionAsync(async () =>
        {
            await using var host = new LearnerHost(settings);
        });

        Assert.NotNull(error);
        Assert.IsType<Microsoft.Extensions.Options.OptionsValidationException>(error);
        Assert.Matches(pattern, error.Message);
    }

    [Fact]
    public async Task A_replay_sandbox_keeps_its_checkpoints_in_a_subfolder_named_after_its_key_prefix()
    {
        var settings = LearnerHost.Settings(policy, stateDirectory);
        settings["Replay:Sandbox"] = "true";
        settings["Replay:KeyPrefix"] = "rlhf:bisect-1:";

        await using var host = new LearnerHost(settings);

        var options = host.Service<Microsoft.Extensions.Options.IOptions<LearnerOptions>>().Value;
        Assert.Equal(Path.Combine(stateDirectory, "sandbox-rlhf-bisect-1-"), options.StateDirectory);
    }

    [Fact]
    public void The_ptx_corpus_reads_jsonl_text_documents_and_names_a_bad_line()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-ptx-{Guid.NewGuid():N}.jsonl");
        try
        {
            var tokenizer = new Rlhf.Modeling.Tokenization.ByteTokenizer();
            File.WriteAllLines(path, ["{\"text\": \"7 + 5 = 12\\n\"}", "", "{\"text\": \"<|bos|>9 - 3 = 6\"}"]);
            var corpus = new Training.JsonlPtxCorpus(path, tokenizer, batchSize: 5, seed: 1);
            Assert.Equal(2, corpus.Count);
            var batch = corpus.NextBatch();
            Assert.Equal(5, batch.Count);
            Assert.All(batch, d => Assert.Empty(d.PromptTokenIds));
            Assert.Contains(batch, d => tokenizer.Decode(d.ResponseTokenIds) == "<|bos|>9 - 3 = 6");
            Assert.All(batch, d => Assert.Contains(tokenizer.Decode(d.ResponseTokenIds), new[] { "7 + 5 = 12\n", "<|bos|>9 - 3 = 6" }));

            File.WriteAllLines(path, ["{\"text\": \"ok\"}", "{\"content\": \"no text field\"}"]);
            var error = Assert.Throws<InvalidDataException>(() => new Training.JsonlPtxCorpus(path, tokenizer, 4, 1));
            Assert.Contains(":2:", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Without_a_model_the_learner_reports_it_and_trains_nothing()
    {
        await using var host = new LearnerHost(new Dictionary<string, string?> { ["Bus:Transport"] = "InMemory" });

        var status = await host.StatusAsync();

        Assert.Equal("no_model", status.GetProperty("phase").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Null, status.GetProperty("policy_version").ValueKind);
        Assert.Equal(0, (await host.VersionsAsync()).GetProperty("policy").GetProperty("versions").GetArrayLength());
    }
}
