using System.Security.Cryptography;
using Rlhf.Contracts;
using Rlhf.Learner.Tests.Support;
using Rlhf.Learner.Training;
using Rlhf.Modeling;
using Rlhf.Testing;
using Rlhf.Training;
using static TorchSharp.torch;

namespace Rlhf.Learner.Tests.Units;

/// <summary>The learner's models with <c>Learner:Lora:Rank</c> &gt; 0: adapters train, the base stays frozen, checkpoints carry both.</summary>
public sealed class LoraLearnerModelsTests : IDisposable
{
    static readonly float[] Rewards = [1.5f, -0.5f, 0.75f, -1.25f];

    readonly TinyPolicy policy = new(seed: 11);
    readonly string scratch = Path.Combine(Path.GetTempPath(), $"rlhf-lora-learner-{Guid.NewGuid():N}");

    public LoraLearnerModelsTests() => Directory.CreateDirectory(scratch);

    public void Dispose()
    {
        policy.Dispose();
        TestDirectory.Delete(scratch);
    }

    LearnerOptions Options(int rank = 4, params string[] targets)
    {
        var options = new LearnerOptions { ModelPath = policy.Directory, Seed = 3 };
        options.Ppo = options.Ppo with { Epochs = 2, MiniBatchSize = 2, Actor = options.Ppo.Actor with { LearningRate = 0.01 } };
        options.Lora.Rank = rank;
        options.Lora.Alpha = 2 * rank;
        options.Lora.TargetModules = [.. targets];
        return options;
    }

    List<Rollout> Rollouts() => SampledRollouts.Generate(policy.Directory, groups: 2)
        .Select((r, i) => new Rollout(r.PromptTokenIds, r.ResponseTokenIds, r.BehaviourLogProbs, Rewards[i], 0)).ToList();

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.allclose(b, rtol: 0, atol: 0);

    static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    [Fact]
    public void A_ppo_step_changes_only_the_adapters_and_the_reference_is_the_base_with_adapters_off()
    {
        using var models = LearnerModels.Load(Options(), CPU);
        Assert.Null(models.Reference);
        var before = Snapshot(models.Actor);

        var metrics = models.Ppo.Step(Rollouts());

        Assert.Equal(1, models.Ppo.Steps);
        var after = Snapshot(models.Actor);
        var changed = after.Where(kv => !Same(before[kv.Key], kv.Value)).Select(kv => kv.Key).ToList();
        Assert.NotEmpty(changed);
        Assert.All(changed, key => Assert.Contains(".lora_", key, StringComparison.Ordinal));
        // Every projection of every layer carries an adapter by default.
        Assert.Equal(2 * 7, after.Keys.Count(k => k.EndsWith(".lora_B", StringComparison.Ordinal)));
        // Base weights equal the checkpoint's bytes exactly.
        var baseWeights = SafeTensors.Load(policy.WeightsPath);
        foreach (var (name, tensor) in after.Where(kv => !kv.Key.Contains(".lora_", StringComparison.Ordinal)))
            Assert.True(Same(baseWeights[name], tensor), $"{name} changed");
        // Adapters off is the base policy: its KL to the reference is 0 while the trained actor has moved.
        Assert.True(double.IsFinite(metrics.Kl));
        var kl = PolicyEvaluation.KlToReference(models.Actor, null, [Rollouts()[0].PromptTokenIds], models.StopTokenIds, TinyPolicy.Tokenizer.PadId, 8, 1.0, 1);
        Assert.True(kl > 1e-9, $"KL {kl}: the adapters changed nothing");
        models.Actor.SetAdaptersActive(false);
        using (var baseModel = ModelCheckpoint.LoadPolicy(policy.Directory))
        {
            var klOff = PolicyEvaluation.KlToReference(models.Actor, baseModel, [Rollouts()[0].PromptTokenIds], models.StopTokenIds, TinyPolicy.Tokenizer.PadId, 8, 1.0, 1);
            Assert.Equal(0, klOff, 1e-9);
        }
    }

    [Fact]
    public void A_checkpoint_restores_the_adapters_and_their_optimizer_moments_into_a_fresh_learner()
    {
        var first = Path.Combine(scratch, "first");
        var second = Path.Combine(scratch, "second");
        using (var models = LearnerModels.Load(Options(), CPU))
        {
            models.Ppo.Step(Rollouts());
            models.Save(first);
        }

        using (var restarted = LearnerModels.Load(Options(), CPU))
        {
            restarted.Load(first);
            Assert.Equal(1, restarted.Ppo.Steps);
            restarted.Save(second);
        }

        var saved = SafeTensors.Load(Path.Combine(CheckpointDirectory.PpoPath(first), "state.safetensors"), convertTo: null);
        var resaved = SafeTensors.Load(Path.Combine(CheckpointDirectory.PpoPath(second), "state.safetensors"), convertTo: null);
        Assert.Contains(saved.Keys, k => k.StartsWith("actor_optimizer.", StringComparison.Ordinal) && k.Contains(".lora_B.exp_avg", StringComparison.Ordinal));
        Assert.DoesNotContain(saved.Keys, k => k.StartsWith("actor_optimizer.", StringComparison.Ordinal) && !k.Contains(".lora_", StringComparison.Ordinal));
        Assert.Equal(saved.Keys.Order(), resaved.Keys.Order());
        foreach (var key in saved.Keys.Where(k => !k.StartsWith("rng.", StringComparison.Ordinal)))
            Assert.True(Same(saved[key], resaved[key]), $"{key} was not restored");
        // The adapters trained: some lora_B is non-zero in the checkpoint.
        Assert.Contains(saved, kv => kv.Key.EndsWith(".lora_B", StringComparison.Ordinal) && kv.Value.abs().max().item<float>() > 0);
    }

    [Fact]
    public void A_checkpoint_written_with_other_lora_settings_fails_to_load_and_names_the_setting()
    {
        var checkpoint = Path.Combine(scratch, "rank4");
        using (var models = LearnerModels.Load(Options(rank: 4), CPU))
            models.Save(checkpoint);

        using var other = LearnerModels.Load(Options(rank: 8), CPU);
        var error = Assert.Throws<InvalidDataException>(() => other.Load(checkpoint));
        Assert.Contains("Learner:Lora", error.Message, StringComparison.Ordinal);
        using var full = LearnerModels.Load(Options(rank: 0), CPU);
        Assert.Contains("Learner:Lora", Assert.Throws<InvalidDataException>(() => full.Load(checkpoint)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_export_is_a_peft_adapter_blob_naming_the_base_and_another_learner_imports_it_exactly()
    {
        using var models = LearnerModels.Load(Options(4, "q_proj", "v_proj"), CPU);
        models.Ppo.Step(Rollouts());
        var (bytes, format, baseSha256) = models.ExportActor();

        Assert.Equal(LoraAdapterBlob.Format, format);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(policy.WeightsPath))), baseSha256);
        Assert.Equal(
            [
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight F32 [4,32]",
                "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight F32 [32,4]",
                "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight F32 [4,32]",
                "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight F32 [16,4]",
                "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight F32 [4,32]",
                "base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight F32 [32,4]",
                "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight F32 [4,32]",
                "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight F32 [16,4]",
            ],
            TinyPolicy.Layout(bytes).Order(StringComparer.Ordinal));
        using (var adapter = LoraAdapterBlob.Read(bytes))
        {
            Assert.Equal(4, adapter.Options.Rank);
            Assert.Equal(8, adapter.Options.Alpha);
            Assert.Equal(["q_proj", "v_proj"], adapter.Options.TargetModules);
        }

        var blob = new BlobReference("memory://blob/policy/1/x", Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length, format, baseSha256);
        using var other = LearnerModels.Load(Options(4, "q_proj", "v_proj"), CPU);
        other.ImportActor(blob, bytes);
        var trained = Snapshot(models.Actor);
        foreach (var (name, tensor) in Snapshot(other.Actor))
            Assert.True(Same(trained[name], tensor), $"{name} differs after the import");

        // The base version (full weights equal to the base) zeroes the adapters again.
        var baseBytes = File.ReadAllBytes(policy.WeightsPath);
        other.ImportActor(new BlobReference("memory://blob/policy/0/y", baseSha256!, baseBytes.Length, PolicyBlobs.WeightsFormat), baseBytes);
        Assert.All(other.Actor.NamedProjections().Where(p => p.Layer.HasLora), p => Assert.Equal(0f, p.Layer.LoraB!.abs().max().item<float>()));

        // A full-fine-tuning learner takes the adapter version as the base with the adapters merged in.
        using var full = LearnerModels.Load(Options(rank: 0), CPU);
        full.ImportActor(blob, bytes);
        using var merged = PolicyWeightsBlob.Load(policy.Directory, bytes, format, baseSha256);
        var mergedWeights = Snapshot(merged);
        foreach (var (name, tensor) in Snapshot(full.Actor))
            Assert.True(mergedWeights[name].allclose(tensor, rtol: 0, atol: 1e-7), $"{name} differs from the merged policy");
    }

    [Fact]
    public void Weights_of_another_base_are_refused_with_the_reason()
    {
        using var models = LearnerModels.Load(Options(), CPU);
        using var otherBase = new TinyPolicy(seed: 12);
        var otherSha = Convert.ToHexStringLower(SHA256.HashData(otherBase.WeightsBytes()));

        var foreignAdapter = new BlobReference("memory://blob/policy/3/a", new string('a', 64), 10, LoraAdapterBlob.Format, otherSha);
        Assert.Contains("trained on base weights sha256", models.AdoptionProblem(foreignAdapter));
        Assert.Contains("names no base", models.AdoptionProblem(foreignAdapter with { BaseSha256 = null }));
        var foreignFull = new BlobReference("memory://blob/policy/3/b", otherSha, 10, PolicyBlobs.WeightsFormat);
        Assert.Contains("Learner:Lora:Rank 0", models.AdoptionProblem(foreignFull));
        var error = Assert.Throws<InvalidDataException>(() => models.ImportActor(foreignFull, otherBase.WeightsBytes()));
        Assert.Contains("cannot train from", error.Message, StringComparison.Ordinal);
        Assert.Null(models.AdoptionProblem(foreignAdapter with { BaseSha256 = models.BaseSha256 }));
    }
}
