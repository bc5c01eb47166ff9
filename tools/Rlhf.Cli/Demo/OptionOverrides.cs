using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rlhf.Cli.Demo;

/// <summary>
/// <c>--set Name=value</c> for any property of an options record (e.g. <c>--set SloppyShare=0.6</c>,
/// <c>--set Ppo.KlCoef=0.1</c>): the record goes through JSON, so the names are the C# property names.
/// </summary>
static class OptionOverrides
{
    static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    public static T Apply<T>(T options, IEnumerable<string> assignments) where T : class
    {
        var node = JsonSerializer.SerializeToNode(options)!.AsObject();
        foreach (var assignment in assignments)
        {
            var at = assignment.IndexOf('=');
            if (at <= 0)
                throw new ArgumentException($"--set expects Name=value, got '{assignment}'.");
            var path = assignment[..at].Split('.');
            var value = assignment[(at + 1)..];
            var parent = node;
            foreach (var part in path[..^1])
                parent = (Find(parent, part, assignment) as JsonObject) ?? throw new ArgumentException($"'{part}' in '{assignment}' is not an options group.");
            var name = Key(parent, path[^1], assignment);
            parent[name] = Parse(value);
        }

        return node.Deserialize<T>(Json) ?? throw new ArgumentException("Options deserialised to null.");
    }

    static JsonNode? Find(JsonObject parent, string name, string assignment) => parent[Key(parent, name, assignment)];

    static string Key(JsonObject parent, string name, string assignment) =>
        parent.Select(p => p.Key).FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown option '{name}' in '{assignment}'. Known: {string.Join(", ", parent.Select(p => p.Key))}.");

    static JsonNode? Parse(string value)
    {
        if (value is "null") return null;
        if (bool.TryParse(value, out var flag)) return JsonValue.Create(flag);
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)) return JsonValue.Create(number);
        return JsonValue.Create(value);
    }
}
