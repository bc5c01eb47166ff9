using System.Text.Json;

namespace Rlhf.Cli.Operations;

/// <summary>How <c>--json</c> writes: camelCase names, indented, one document per run.</summary>
static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
