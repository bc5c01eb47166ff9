using System.Text.Encodings.Web;
using System.Text.Json;

namespace Rlhf.Cli.Operations;

/// <summary>How <c>--json</c> writes: camelCase names, indented, one document per run, no \u escapes for &lt; &gt; ' &amp; (read by people and jq, never embedded in HTML).</summary>
static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // A metric that did not apply is stored as NaN or an infinity: written as the string "NaN" / "Infinity".
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
