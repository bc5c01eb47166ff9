using System.CommandLine;
using System.Net;
using System.Text.Json;
using Rlhf.Cli.Operations;
using Spectre.Console;

namespace Rlhf.Cli.Data;

/// <summary>
/// <c>rlhf data delete --user ID [--url http://localhost:5102] [--operator-key KEY] [--json]</c>: calls the feedback
/// service's <c>DELETE /v1/users/{user_id}</c> (role admin) and prints what each store removed, as a table or the JSON
/// answer. Exit 0 when the service answered 200; 1 with the service's ProblemDetails detail (or the connection error)
/// otherwise.
/// </summary>
public static class DataCommand
{
    public static Command Create()
    {
        var user = new Option<string>("--user") { Description = "The user whose data to delete: the OpenAI `user` field of their chats (also matched as a rater id)", Required = true };
        var url = new Option<Uri>("--url") { Description = "The feedback service", DefaultValueFactory = _ => new Uri("http://localhost:5102") };
        var key = new Option<string?>("--operator-key")
        {
            Description = "An admin key (Operators:AdminKeys); default: the RLHF_OPERATOR_KEY environment variable",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("RLHF_OPERATOR_KEY"),
        };
        var json = new Option<bool>("--json") { Description = "Print the service's JSON answer instead of the table" };
        var delete = new Command("delete", "Delete one user's data everywhere (rollouts, journal entries, comments, dashboard) and print what was removed.")
        {
            user, url, key, json,
        };
        delete.SetAction((parse, cancel) => DeleteAsync(parse.GetValue(url)!, parse.GetValue(user)!, parse.GetValue(key), parse.GetValue(json),
            parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancel));
        return new Command("data", "User data: delete one user's data (DELETE /v1/users/{user_id}).") { delete };
    }

    public static async Task<int> DeleteAsync(Uri service, string userId, string? operatorKey, bool json, TextWriter output, TextWriter error,
        CancellationToken cancellationToken)
    {
        using var http = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromMinutes(5) };
        using var request = new HttpRequestMessage(HttpMethod.Delete, $"/v1/users/{Uri.EscapeDataString(userId)}");
        if (!string.IsNullOrEmpty(operatorKey))
            request.Headers.Add("X-Operator-Key", operatorKey);
        string body;
        HttpStatusCode status;
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            (status, body) = (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken));
        }
        catch (HttpRequestException e)
        {
            await error.WriteLineAsync($"error: {service}: {e.Message}");
            return 1;
        }

        if (status != HttpStatusCode.OK)
        {
            await error.WriteLineAsync($"error: {(int)status} {Detail(body)}");
            return 1;
        }

        if (json)
        {
            await output.WriteLineAsync(body);
            return 0;
        }

        using var document = JsonDocument.Parse(body);
        var root = document.RootElement;
        await output.WriteLineAsync($"deleted the data of user '{root.GetProperty("user_id").GetString()}' at {root.GetProperty("deleted_at").GetString()} " +
                                    $"({root.GetProperty("groups").GetInt32()} requests known)");
        var table = ConsoleTables.Create(("store", Justify.Left), ("removed", Justify.Right), ("action", Justify.Left));
        foreach (var store in root.GetProperty("stores").EnumerateArray())
        {
            var removed = store.GetProperty("removed");
            table.AddTextRow([store.GetProperty("store").GetString()!, removed.ValueKind == JsonValueKind.Number ? removed.GetInt64().ToString() : "-",
                store.GetProperty("action").GetString()!]);
        }

        ConsoleTables.Write(table, output);
        return 0;
    }

    static string Detail(string body)
    {
        try
        {
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.TryGetProperty("detail", out var detail) ? detail.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body.Length > 300 ? body[..300] : body;
        }
    }
}
