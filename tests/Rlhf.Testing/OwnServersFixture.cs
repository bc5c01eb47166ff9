using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// A class fixture: one <see cref="OwnServers"/> pair for all the tests of a class (xunit makes one per class), started
/// with <paramref name="command"/> (<c>up</c>, <c>tls up</c>, <c>up --secure</c>) when the real servers are available.
/// Derive a parameterless class per command for <c>IClassFixture&lt;T&gt;</c>.
/// </summary>
public abstract class OwnServersFixture(string command, IReadOnlyDictionary<string, string>? environment = null) : IAsyncLifetime
{
    OwnServers? servers;

    /// <summary>The class's servers; skips the calling test where the real servers are not available.</summary>
    public OwnServers Servers
    {
        get
        {
            if (servers is null)
                Assert.Skip("RLHF_TEST_RABBITMQ is not set (scripts/test.sh sets it and installs the servers this test starts).");
            return servers;
        }
    }

    public async ValueTask InitializeAsync()
    {
        if (OwnServers.Enabled)
            servers = await OwnServers.StartAsync(environment, command);
    }

    public async ValueTask DisposeAsync()
    {
        if (servers is not null)
            await servers.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

/// <summary>Own servers with TLS listeners next to the plain ones (<c>scripts/infra.sh tls up</c>).</summary>
public sealed class OwnTlsServers() : OwnServersFixture("tls up");

/// <summary>Own servers in the secure mode (<c>scripts/infra.sh up --secure</c>): per-service users, no guest, Redis's default user off.</summary>
public sealed class OwnSecureServers() : OwnServersFixture("up --secure");
