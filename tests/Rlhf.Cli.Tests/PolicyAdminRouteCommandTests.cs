using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Rlhf.Cli.Operations;
using Rlhf.Learner.Admin;
using Rlhf.Storage;
using Rlhf.Testing;

namespace Rlhf.Cli.Tests;

/// <summary>
/// The changing <c>rlhf policy</c> and <c>rlhf errors</c> commands call the learner's admin routes over HTTP (the
/// default; <c>--direct</c> is the old Redis + RabbitMQ path): a learner without a model runs in process on Kestrel on
/// a free port, with in-memory stores and bus, and the commands are parsed and run as <c>rlhf</c> would.
/// </summary>
public sealed class PolicyAdminRouteCommandTests : IAsyncLifetime
{
    const string AdminKey = "cli-admin-key-5c1e";
    const string OperatorKey = "cli-operator-key-9a0b";

    readonly string stateDirectory = Path.Combine(Path.GetTempPath(), $"rlhf-cli-admin-{Guid.NewGuid():N}");
    WebApplicationFactory<AdminOutcome> learner = null!;
    string url = "";

    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    IModelRegistry Registry => learner.Services.GetRequiredService<IModelRegistry>();

    public async ValueTask InitializeAsync()
    {
        learner = new WebApplicationFactory<AdminOutcome>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Bus:Transport", "InMemory");
            web.UseSetting("Storage:Kind", "InMemory");
            web.UseSetting("Learner:ModelPath", "");
            web.UseSetting("Learner:StateDirectory", stateDirectory);
            web.UseSetting("Operators:AllowAnonymous", "false");
            web.UseSetting("Operators:Keys:cli-operator", Hash(OperatorKey));
            web.UseSetting("Operators:AdminKeys:cli-admin", Hash(AdminKey));
        });
        learner.UseKestrel(0);
        learner.StartServer();
        url = learner.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var blobs = learner.Services.GetRequiredService<IBlobStore>();
        for (var version = 1; version <= 2; version++)
        {
            var blob = await blobs.PutAsync($"policy-{version}", Encoding.UTF8.GetBytes($"weights {version}"), "safetensors", Cancel);
            await Registry.RegisterAsync(new ModelVersionRecord(ModelKind.Policy, version, version == 1 ? null : 1, blob, new Dictionary<string, double>(),
                DateTimeOffset.UtcNow), Cancel);
        }

        await Registry.PromoteAsync(ModelKind.Policy, 1, Cancel);
    }

    public async ValueTask DisposeAsync()
    {
        await learner.DisposeAsync();
        TestDirectory.Delete(stateDirectory);
    }

    [Fact]
    public async Task Promote_goes_through_the_learner_with_an_admin_key()
    {
        var (code, output, error) = await RunAsync("policy", "promote", "2", "--yes", "--url", url, "--operator-key", AdminKey);

        Assert.True(code == 0, error);
        Assert.Contains("Promoted policy version 2 in the registry (was version 1).", output);
        Assert.Contains("Published PolicyUpdated (version 2, parent 1, rollback", output);
        Assert.Equal(2, (await Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
    }

    [Fact]
    public async Task Without_a_key_the_learner_answers_401_and_nothing_changes()
    {
        var (code, _, error) = await RunAsync("policy", "rollback", "2", "--yes", "--url", url, "--operator-key", "");

        Assert.Equal(1, code);
        Assert.Contains($"answered 401: A client key is required: send it in the X-Operator-Key header. Pass an admin's key", error);
        Assert.Equal(1, (await Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
    }

    [Fact]
    public async Task An_operator_key_without_the_admin_role_gets_403_and_nothing_changes()
    {
        var (code, _, error) = await RunAsync("policy", "promote", "2", "--yes", "--url", url, "--operator-key", OperatorKey);

        Assert.Equal(1, code);
        Assert.Contains("answered 403: The key of 'cli-operator' does not have the role this route needs", error);
        Assert.Equal(1, (await Registry.GetPromotedAsync(ModelKind.Policy, Cancel))?.Version);
    }

    [Fact]
    public async Task A_refusal_prints_the_learners_reason_and_exits_1()
    {
        var (code, _, error) = await RunAsync("policy", "promote", "1", "--yes", "--url", url, "--operator-key", AdminKey);

        Assert.Equal(1, code);
        Assert.Contains("error: policy version 1 is already the promoted version. Nothing was changed.", error);
    }

    [Fact]
    public async Task Abort_canary_and_resume_go_through_the_learner()
    {
        Assert.True(await Registry.StartCanaryAsync(ModelKind.Policy, 2, Cancel));
        await Registry.PausePromotionAsync(ModelKind.Policy, new PromotionPause("alarm in a test", DateTimeOffset.UtcNow), Cancel);

        var abort = await RunAsync("policy", "abort-canary", "--yes", "--url", url, "--operator-key", AdminKey);
        var resume = await RunAsync("policy", "resume", "--yes", "--url", url, "--operator-key", AdminKey);

        Assert.True(abort.Code == 0, abort.Error);
        Assert.True(resume.Code == 0, resume.Error);
        Assert.Null(await Registry.GetCanaryAsync(ModelKind.Policy, Cancel));
        Assert.Null(await Registry.GetPromotionPauseAsync(ModelKind.Policy, Cancel));
        Assert.Contains("Resumed policy promotion (paused since", resume.Output);
    }

    [Fact]
    public async Task Errors_purge_goes_through_the_learner()
    {
        var (code, _, error) = await RunAsync("errors", "purge", "--queue", "ranking-submitted_error", "--yes", "--url", url, "--operator-key", AdminKey);

        Assert.Equal(1, code);
        Assert.Contains("dead-letter queues exist only on RabbitMQ; this learner runs on the in-memory bus", error);
    }

    [Fact]
    public async Task The_operator_key_comes_from_RLHF_OPERATOR_KEY_when_not_passed()
    {
        // The variable is read when the command is parsed; this test is the only one in the assembly that sets it.
        Environment.SetEnvironmentVariable(AdminEndpoint.KeyVariable, AdminKey);
        try
        {
            var (code, output, error) = await RunAsync("policy", "resume", "--yes", "--url", url);

            Assert.Equal(1, code);
            Assert.Contains("error: policy promotion is not paused", error);
            Assert.Empty(output);
        }
        finally
        {
            Environment.SetEnvironmentVariable(AdminEndpoint.KeyVariable, null);
        }
    }

    static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var root = new RootCommand { PolicyCommand.Create(), ErrorsCommand.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, Cancel);
        return (code, output.ToString(), error.ToString());
    }

    static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
