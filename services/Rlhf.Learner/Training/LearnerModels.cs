using Rlhf.Contracts;
using Rlhf.Modeling;
using Rlhf.Modeling.Templates;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Rlhf.Learner.Training;

/// <summary>
/// The four models of the learner and their trainers: the actor (trained by PPO and SFT), the critic (initialised from
/// the base trunk with a fresh value head), the frozen SFT reference (the base checkpoint), and the tokenizer and chat
/// template of the base checkpoint. With <c>Learner:Lora:Rank</c> &gt; 0 the actor carries LoRA adapters on its frozen
/// base weights, only the adapters train, and the reference is the actor with its adapters off (no second copy).
/// Not thread-safe: <see cref="LearnerEngine"/> serialises every use.
/// </summary>
public sealed class LearnerModels : IDisposable
{
    LearnerModels(string modelPath, CausalLM? reference, CausalLM actor, ScalarHeadModel critic, ITextTokenizer tokenizer, PpoOptions ppo, SftOptions sft,
        IPtxSource? ptx, LoraOptions? lora)
    {
        ModelPath = modelPath;
        Reference = reference;
        Actor = actor;
        Critic = critic;
        Tokenizer = tokenizer;
        Lora = lora;
        Template = ModelChatTemplate.Load(modelPath);
        StopTokenIds = new HashSet<int>(actor.Config.EosTokenIds()) { Template.EndOfTurnId(tokenizer), tokenizer.EosId };
        PpoOptions = ppo;
        Ppo = new PpoTrainer(actor, critic, reference, ppo, ptx);
        Sft = new SftTrainer(actor, sft);
    }

    public string ModelPath { get; }

    /// <summary>The frozen SFT reference; null with LoRA, where the reference is <see cref="Actor"/> with its adapters off.</summary>
    public CausalLM? Reference { get; }

    public CausalLM Actor { get; }

    public ScalarHeadModel Critic { get; }

    /// <summary>The actor's adapters, or null when every weight trains.</summary>
    public LoraOptions? Lora { get; }

    public ITextTokenizer Tokenizer { get; }

    /// <summary>
    /// The template generation renders chats with (the model's own from tokenizer_config.json, else ChatML), so
    /// demonstrations are tokenized the way prompts are served.
    /// </summary>
    public ModelChatTemplate Template { get; }

    public IReadOnlyCollection<int> StopTokenIds { get; }

    public ModelConfig Config => Actor.Config;

    public PpoOptions PpoOptions { get; }

    public PpoTrainer Ppo { get; }

    public SftTrainer Sft { get; }

    /// <summary>Loads the base checkpoint as reference and actor, and builds the critic on its trunk.</summary>
    public static LearnerModels Load(LearnerOptions options, Device device)
    {
        var path = options.ModelPath ?? throw new InvalidOperationException("Learner:ModelPath is not set.");
        var tokenizer = TokenizerLoader.Load(path);
        var lora = options.Lora.Enabled ? options.Lora.ToLoraOptions() : null;
        var actor = ModelCheckpoint.LoadPolicy(path, device);
        var reference = lora is null ? ModelCheckpoint.LoadPolicy(path, device) : null;
        // The critic's head (and the adapters' A) are the only freshly initialised tensors: seed them so a restart from
        // scratch builds the same ones.
        TorchRuntime.Seed(options.Seed);
        var critic = new ScalarHeadModel(actor.Config, device);
        critic.LoadTrunkFrom(actor);
        if (lora is not null)
            actor.AttachLora(lora);
        var ppo = options.Ppo with { MaxPolicyLag = options.MaxPolicyLag, PadTokenId = tokenizer.PadId };
        var sft = options.Sft with { PadTokenId = tokenizer.PadId };
        var ptx = ppo.PtxCoef > 0
            ? new JsonlPtxCorpus(options.PtxCorpusPath ?? throw new InvalidOperationException("Learner:PtxCorpusPath is not set."),
                tokenizer, options.PtxBatchSize, (int)options.Seed)
            : null;
        return new LearnerModels(path, reference, actor, critic, tokenizer, ppo, sft, ptx, lora);
    }

    /// <summary>Version recorded in the base checkpoint's metadata (0 for a plain HF checkpoint).</summary>
    public long BaseVersion => ModelCheckpoint.ReadMetadata(ModelPath)?.Version ?? 0;

    /// <summary>The base checkpoint's weights file, as generation loads it from its own ModelPath.</summary>
    public byte[] BaseWeights() => File.ReadAllBytes(Path.Combine(ModelPath, ModelCheckpoint.WeightsFile));

    /// <summary>SHA-256 of the base weights (<see cref="ModelCheckpoint.WeightsSha256"/>): what adapter blobs name as their base.</summary>
    public string BaseSha256 => baseSha256 ??= ModelCheckpoint.WeightsSha256(ModelPath);

    string? baseSha256;

    /// <summary>Writes both trainers (weights, optimizer moments, RNG states, steps, KL coefficient).</summary>
    public void Save(string checkpoint)
    {
        Ppo.Save(CheckpointDirectory.PpoPath(checkpoint));
        Sft.Save(CheckpointDirectory.SftPath(checkpoint));
    }

    /// <summary>Restores both trainers from <see cref="Save"/>'s output (the PPO trainer last: its actor copy and RNG state win).</summary>
    public void Load(string checkpoint)
    {
        try
        {
            Sft.Load(CheckpointDirectory.SftPath(checkpoint));
            Ppo.Load(CheckpointDirectory.PpoPath(checkpoint));
        }
        catch (InvalidDataException error)
        {
            throw new InvalidDataException($"{error.Message} (checkpoint {checkpoint}; the learner now trains " +
                $"{(Lora is null ? "every weight" : $"LoRA adapters r = {Lora.Rank} on [{string.Join(", ", Lora.TargetModules)}]")}: was Learner:Lora " +
                "changed since it was written? Restore the setting, or move the state directory away to start from the registry's promoted version)", error);
        }
    }

    /// <summary>
    /// What a new version publishes: the actor's full weights (<see cref="ExportActorWeights"/>), or with LoRA the adapter
    /// blob (<see cref="LoraAdapterBlob"/>) and the sha256 of the base weights it applies to.
    /// </summary>
    public (byte[] Bytes, string Format, string? BaseSha256) ExportActor()
    {
        if (Lora is null)
            return (ExportActorWeights(), PolicyBlobs.WeightsFormat, null);
        using var adapter = LoraAdapter.From(Actor, Lora);
        return (LoraAdapterBlob.Write(adapter), LoraAdapterBlob.Format, BaseSha256);
    }

    /// <summary>
    /// Why the actor cannot take the weights of <paramref name="blob"/>, or null when it can: adapters must name this
    /// learner's base weights; a LoRA learner takes full weights only when they are its base (the bootstrap version).
    /// </summary>
    public string? AdoptionProblem(BlobReference blob)
    {
        if (PolicyWeightsBlob.IsAdapter(blob.Format))
            return PolicyWeightsBlob.BaseMismatch(blob.BaseSha256, BaseSha256);
        if (!string.Equals(blob.Format, PolicyBlobs.WeightsFormat, StringComparison.Ordinal))
            return $"blob format '{blob.Format}' is neither '{PolicyBlobs.WeightsFormat}' nor '{LoraAdapterBlob.Format}'";
        if (Lora is not null && !string.Equals(blob.Sha256, BaseSha256, StringComparison.OrdinalIgnoreCase))
            return "its full weights are not this learner's base checkpoint, and with Learner:Lora:Rank > 0 the learner trains adapters on " +
                "Learner:ModelPath's weights only (set Learner:Lora:Rank 0 to train from full weights)";
        return null;
    }

    /// <summary>
    /// Puts a version's weights into the actor (the critic and optimizers stay): full weights are copied; adapters are
    /// copied into the actor's adapters (LoRA) or merged into the base weights (full fine-tuning); with LoRA the base
    /// version zeroes the adapters. Weights the actor cannot take are an <see cref="InvalidDataException"/>.
    /// </summary>
    public void ImportActor(BlobReference blob, byte[] bytes)
    {
        if (AdoptionProblem(blob) is { } problem)
            throw new InvalidDataException($"cannot train from blob {blob.Uri}: {problem}");
        if (PolicyWeightsBlob.IsAdapter(blob.Format))
        {
            using var adapter = LoraAdapterBlob.Read(bytes);
            if (Lora is not null)
            {
                adapter.LoadInto(Actor, Lora);
                return;
            }

            ImportActorWeights(BaseWeights());
            adapter.MergeInto(Actor);
        }
        else if (Lora is not null)
        {
            using var noGrad = no_grad();
            foreach (var (_, layer) in Actor.NamedProjections().Where(p => p.Layer.HasLora))
                layer.LoraB!.zero_();
        }
        else
        {
            ImportActorWeights(bytes);
        }
    }

    /// <summary>
    /// The actor's weights as the bytes of a <c>model.safetensors</c> file of the base architecture (HF key names,
    /// float32), exactly what generation loads next to the base config.json; serialized in memory, no file.
    /// </summary>
    public byte[] ExportActorWeights() => ModelCheckpoint.PolicyWeights(Actor);

    /// <summary>Copies weights exported by <see cref="ExportActorWeights"/> (or the base file) into the actor.</summary>
    public void ImportActorWeights(byte[] weights)
    {
        using var loaded = ModelCheckpoint.LoadPolicyFromWeights(ModelPath, weights, Actor.Device);
        using var noGrad = no_grad();
        var source = loaded.state_dict();
        foreach (var (name, tensor) in Actor.state_dict())
            tensor.copy_(source[name]);
    }

    public void Dispose()
    {
        Ppo.Dispose();
        Sft.Dispose();
        Actor.Dispose();
        Critic.Dispose();
        Reference?.Dispose();
    }
}
