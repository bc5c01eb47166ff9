using System.Net;
using System.Security.Cryptography;
using System.Text;
using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// Settings that protect a service's operator routes with one operator key (anonymous callers refused), and the check
/// every service's test runs on each of its protected routes: no key 401, an unknown key 401, the operator's key passes.
/// </summary>
public static class OperatorAccess
{
    public const string Key = "operator-key-for-tests-3f9c";

    /// <summary>The key of <see cref="AdminSettings"/>' admin, named <c>test-admin</c>.</summary>
    public const string AdminKey = "admin-key-for-tests-77d1";

    public static Dictionary<string, string?> Settings() => new()
    {
        ["Operators:AllowAnonymous"] = "false",
        ["Operators:Keys:test-operator"] = Hash(Key),
    };

    /// <summary><see cref="Settings"/> plus one admin (<see cref="AdminKey"/>, roles operator and admin).</summary>
    public static Dictionary<string, string?> AdminSettings()
    {
        var settings = Settings();
        settings["Operators:AdminKeys:test-admin"] = Hash(AdminKey);
        return settings;
    }

    static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Sends the request three times (no key, a wrong key, the operator key) and returns the three statuses.</summary>
    public static async Task<(HttpStatusCode Anonymous, HttpStatusCode WrongKey, HttpStatusCode Operator)> ProbeAsync(
        HttpClient http, Func<HttpRequestMessage> request)
    {
        async Task<HttpStatusCode> Send(string? key)
        {
            using var message = request();
            if (key is not null)
                message.Headers.Add("X-Operator-Key", key);
            using var response = await http.SendAsync(message, TestContext.Current.CancellationToken);
            return response.StatusCode;
        }

        return (await Send(null), await Send("not-the-key"), await Send(Key));
    }
}
