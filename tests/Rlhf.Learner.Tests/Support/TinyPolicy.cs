using Rlhf.Modeling;
using Rlhf.Modeling.Tokenization;

namespace Rlhf.Learner.Tests.Support;

/// <summary>A random tiny policy checkpoint (byte tokenizer, 256 positions) in a temporary directory.</summary>
public sealed class TinyPolicy : IDisposable
{
    public static ModelConfig Config { get; } = new()
    {
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        VocabSize = 260,
        MaxPositionEmbeddings = 256,
    };

    public static ByteTokenizer Tokenizer { get; } = new();

    public TinyPolicy()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-policy-{Guid.NewGuid():N}");
        TorchRuntime.Seed(7);
        using var model = new CausalLM(Config);
        ModelCheckpoint.SavePolicy(Directory, model, Tokenizer, new CheckpointInfo(0));
    }

    public string Directory { get; }

    public string WeightsPath => Path.Combine(Directory, ModelCheckpoint.WeightsFile);

    /// <summary>Loads weights bytes (a blob) as a policy of this checkpoint's architecture, as generation does.</summary>
    public CausalLM LoadWeights(byte[] weights)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-blob-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(directory);
        try
        {
            File.Copy(Path.Combine(Directory, ModelCheckpoint.ConfigFile), Path.Combine(directory, ModelCheckpoint.ConfigFile));
            File.WriteAllBytes(Path.Combine(directory, ModelCheckpoint.WeightsFile), weights);
            return ModelCheckpoint.LoadPolicy(directory);
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Name, dtype and shape of every tensor in a safetensors blob.</summary>
    public static IReadOnlyList<string> Layout(byte[] safetensors)
    {
        var path = Path.Combine(Path.GetTempPath(), $"rlhf-learner-tests-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, safetensors);
        try
        {
            return SafeTensors.ReadHeader(path).Tensors.Select(t => $"{t.Name} {t.Dtype} [{string.Join(",", t.Shape)}]").ToList();
        }
        finally
        {
            File.Delete(path);
        }
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory))
            System.IO.Directory.Delete(Directory, recursive: true);
    }
}
