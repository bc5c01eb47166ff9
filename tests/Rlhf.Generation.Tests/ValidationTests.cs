using System.Net;
using Rlhf.Generation.Tests.Support;
using Rlhf.Testing;

namespace Rlhf.Generation.Tests;

public sealed class ValidationTests(SharedGenerationHost fixture) : IClassFixture<SharedGenerationHost>
{
    static readonly string LongText = new('a', 300);
    static readonly string AlmostFullContext = new('b', 200);
    static readonly string LongUser = new('u', 257);
    static readonly string LongStop = new('s', 65);
    static readonly string HugeMessage = new('m', 65_537);

    public static TheoryData<string, string> InvalidRequests => new()
    {
        { """{"model":"rlhf-policy"}""", "messages" },
        { """{"model":"rlhf-policy","messages":[]}""", "messages" },
        { """{"messages":[{"role":"user","content":"hi"}]}""", "model" },
        { """{"model":"rlhf-policy","messages":[{"role":"wizard","content":"hi"}]}""", "messages[0].role" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"x"}]}""", "messages[1].role" },
        { """{"model":"rlhf-policy","messages":[{"role":"user"}]}""", "messages[0].content" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"temperature":"NaN"}""", "temperature" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"temperature":-0.5}""", "temperature" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", "temperature" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"top_p":0}""", "top_p" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"top_p":1.5}""", "top_p" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", "max_tokens" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"max_tokens":257}""", "max_tokens" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"max_tokens":99999999999}""", "max_tokens" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-1}""", "max_completion_tokens" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"n":0}""", "n" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"n":9}""", "n" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}""", "stop" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"stop":42}""", "stop" },
        { $$"""{"model":"rlhf-policy","messages":[{"role":"user","content":"{{LongText}}"}]}""", "messages" },
        { $$"""{"model":"rlhf-policy","messages":[{"role":"user","content":"{{AlmostFullContext}}"}],"max_tokens":100}""", "max_tokens" },
        { "this is not json", "body" },
        { $$"""{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"user":"{{LongUser}}"}""", "user" },
        { $$"""{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"stop":["ok","{{LongStop}}"]}""", "stop" },
        { $$"""{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"},{"role":"user","content":"{{HugeMessage}}"}]}""", "messages[1].content" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"top_logprobs":2}""", "top_logprobs" },
        { """{"model":"rlhf-policy","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}""", "top_logprobs" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task Invalid_request_is_a_400_naming_the_field_and_nothing_is_generated(string body, string field)
    {
        var host = fixture.Host;

        var reply = await host.ChatAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, reply.Status);
        Assert.Equal("application/json", reply.ContentType?.MediaType);
        Assert.Equal([field], reply.ErrorFields);
        var status = await host.StatusAsync();
        Assert.Equal(0, status.GetProperty("requests_served").GetInt64());
        Assert.Empty(host.Published.All);
    }
}
