using System.Text.Json;
using Rlhf.Modeling.Tokenization;
using Rlhf.Training;

namespace Rlhf.Learner.Training;

/// <summary>
/// PPO-ptx batches from a JSONL corpus (<c>{"text": "..."}</c> per line, the Hugging Face datasets text layout), each
/// document tokenized whole (special tokens such as a BOS marker written in the text are honoured) and learned as
/// plain next-token prediction. Batches are drawn uniformly with a seeded generator.
/// </summary>
public sealed class JsonlPtxCorpus : IPtxSource
{
    readonly IReadOnlyList<Demonstration> documents;
    readonly int batchSize;
    readonly Random random;

    public JsonlPtxCorpus(string path, ITextTokenizer tokenizer, int batchSize, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var parsed = new List<Demonstration>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            string? text;
            try
            {
                using var json = JsonDocument.Parse(line);
                text = json.RootElement.TryGetProperty("text", out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
            }
            catch (JsonException error)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not a JSON object ({error.Message})", error);
            }

            if (string.IsNullOrEmpty(text))
                throw new InvalidDataException($"{path}:{lineNumber}: expected {{\"text\": \"...\"}} with a non-empty string");
            var tokens = tokenizer.Encode(text);
            if (tokens.Count >= 2)
                parsed.Add(new Demonstration([], tokens));
        }

        if (parsed.Count == 0)
            throw new InvalidDataException($"{path}: no document with at least two tokens");
        documents = parsed;
        this.batchSize = batchSize;
        random = new Random(seed);
    }

    public int Count => documents.Count;

    public IReadOnlyList<Demonstration> NextBatch() =>
        Enumerable.Range(0, batchSize).Select(_ => documents[random.Next(documents.Count)]).ToList();
}
