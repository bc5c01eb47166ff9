using System.Text.Json.Nodes;
using Rlhf.Modeling;

namespace Rlhf.Cli.Bench;

/// <summary>Deterministic token sequences for the training and scoring benchmarks, and their JSON for the PyTorch side.</summary>
static class BenchData
{
    /// <summary><paramref name="count"/> sequences of <paramref name="length"/> byte tokens, from <paramref name="seed"/>.</summary>
    public static List<IReadOnlyList<int>> Sequences(int count, int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (IReadOnlyList<int>)Enumerable.Range(0, length).Select(_ => random.Next(1, 256)).ToList()).ToList();
    }

    public static JsonArray Tokens(IEnumerable<int> tokens) => new(tokens.Select(t => (JsonNode)t).ToArray());

    public static JsonArray Floats(IEnumerable<float> values) => new(values.Select(v => (JsonNode)v).ToArray());

    public static JsonObject Pair(IReadOnlyList<int> prompt, IReadOnlyList<int> response) =>
        new() { ["prompt"] = Tokens(prompt), ["response"] = Tokens(response) };
}

/// <summary>A temporary directory of HF checkpoints the PyTorch side loads: the benchmark's models before they train.</summary>
sealed class BenchCheckpoints : IDisposable
{
    readonly DirectoryInfo directory = Directory.CreateTempSubdirectory("rlhf-bench-");

    public string Policy(string name, CausalLM model)
    {
        var path = Path.Combine(directory.FullName, name);
        ModelCheckpoint.SavePolicy(path, model, tokenizer: null, new CheckpointInfo(0));
        return path;
    }

    public string ScalarHead(string name, ScalarHeadModel model)
    {
        var path = Path.Combine(directory.FullName, name);
        ModelCheckpoint.SaveScalarHead(path, model, "reward", tokenizer: null, new CheckpointInfo(0));
        return path;
    }

    public void Dispose() => directory.Delete(recursive: true);
}
