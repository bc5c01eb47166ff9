using System.Text.Json.Serialization;

namespace Rlhf.Learner.Admin;

/// <summary>
/// The JSON answer of every admin route: which action, who (the operator key's name), the outcome and the lines the
/// action wrote (the same texts the CLI prints), split into <see cref="Messages"/> and <see cref="Errors"/>.
/// </summary>
/// <param name="Result"><c>done</c>, <c>refused</c> (nothing was changed) or <c>failed_partway</c> (a step failed after an earlier one changed something).</param>
public sealed record AdminOutcome(
    [property: JsonPropertyName("action")] string Action,
    [property: JsonPropertyName("operator")] string Operator,
    [property: JsonPropertyName("result")] string Result,
    [property: JsonPropertyName("messages")] IReadOnlyList<string> Messages,
    [property: JsonPropertyName("errors")] IReadOnlyList<string> Errors)
{
    public const string DoneResult = "done";
    public const string RefusedResult = "refused";
    public const string FailedPartwayResult = "failed_partway";

    /// <summary>200 done, 409 refused (nothing changed), 502 when Redis or the broker failed after an earlier step changed something.</summary>
    [JsonIgnore]
    public int HttpStatus => Result switch
    {
        DoneResult => StatusCodes.Status200OK,
        RefusedResult => StatusCodes.Status409Conflict,
        _ => StatusCodes.Status502BadGateway,
    };

    /// <summary>Runs an action that writes to an output and an error writer and returns a <see cref="PolicyAction"/> code.</summary>
    public static async Task<AdminOutcome> RunAsync(string action, string who, Func<TextWriter, TextWriter, Task<int>> run)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await run(output, error);
        return new AdminOutcome(action, who, code switch
        {
            PolicyAction.Done => DoneResult,
            PolicyAction.Refused => RefusedResult,
            _ => FailedPartwayResult,
        }, Lines(output), Lines(error));
    }

    static string[] Lines(StringWriter writer) =>
        writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
