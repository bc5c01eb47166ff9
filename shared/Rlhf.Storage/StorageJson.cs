using System.Text.Json;
using System.Text.Json.Serialization;

namespace Rlhf.Storage;

/// <summary>How stores serialise records: web defaults, enums by name, and NaN/Infinity allowed (a log-prob can be -Infinity, a metric NaN).</summary>
internal static class StorageJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"Stored JSON for {typeof(T).Name} is null.");
}
