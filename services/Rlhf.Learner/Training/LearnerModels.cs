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
/// template of the base checkpoint. Not thread-safe: <see cref="LearnerEngine"/> serialises every use.
/// </summary>
public sealed class LearnerModels : IDisposable
{
    LearnerModels(string modelPath, CausalLM reference, CausalLM actor, ScalarHeadModel critic, ITextTokenizer tokenizer, PpoOptions ppo, SftOptions sft,
        IPtxSource? ptx)
    {
        ModelPath = modelPath;
        Reference = reference;
        Actor = actor;
        Critic = critic;
        Tokenizer = tokenizer;
        Template = ModelChatTemplate.Load(modelPath);
        StopTokenIds = new HashSet<int>(reference.Config.EosTokenIds()) { Template.EndOfTurnId(tokenizer), tokenizer.EosId };
        PpoOptions = ppo;
        Ppo = new PpoTrainer(actor, critic, reference, ppo, ptx);
        Sft = new SftTrainer(actor, sft);
    }

    public string ModelPath { get; }

    public CausalLM Reference { get; }

    public CausalLM Actor { get; }

    public ScalarHeadModel Critic { get; }

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
        var reference = ModelCheckpoint.LoadPolicy(path, device);
        var actor = ModelCheckpoint.LoadPolicy(path, device);
        // The critic's head is the only freshly initialised tensor: seed it so a restart from scratch builds the same one.
        TorchRuntime.Seed(options.Seed);
        var critic = new ScalarHeadModel(reference.Config, device);
        critic.LoadTrunkFrom(reference);
        var ppo = options.Ppo with { MaxPolicyLag = options.MaxPolicyLag, PadTokenId = tokenizer.PadId };
        var sft = options.Sft with { PadTokenId = tokenizer.PadId };
        var ptx = ppo.PtxCoef > 0
            ? new JsonlPtxCorpus(options.PtxCorpusPath ?? throw new InvalidOperationException("Learner:PtxCorpusPath is not set."),
                tokenizer, options.PtxBatchSize, (int)options.Seed)
            : null;
        return new LearnerModels(path, reference, actor, critic, tokenizer, ppo, sft, ptx);
    }

    /// <summary>Version recorded in the base checkpoint's metadata (0 for a plain HF checkpoint).</summary>
    public long BaseVersion => ModelCheckpoint.ReadMetadata(ModelPath)?.Version ?? 0;

    /// <summary>The base checkpoint's weights file, as generation loads it from its own ModelPath.</summary>
    public byte[] BaseWeights() => File.ReadAllBytes(Path.Combine(ModelPath, ModelCheckpoint.WeightsFile));

    /// <summary>Writes both trainers (weights, optimizer moments, RNG states, steps, KL coefficient).</summary>
    public void Save(string checkpoint)
    {
        Ppo.Save(CheckpointDirectory.PpoPath(checkpoint));
        Sft.Save(CheckpointDirectory.SftPath(checkpoint));
    }

    /// <summary>Restores both trainers from <see cref="Save"/>'s output (the PPO trainer last: its actor copy and RNG state win).</summary>
    public void Load(string checkpoint)
    {
        Sft.Load(CheckpointDirectory.SftPath(checkpoint));
        Ppo.Load(CheckpointDirectory.PpoPath(checkpoint));
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
        Reference.Dispose();
    }
}
