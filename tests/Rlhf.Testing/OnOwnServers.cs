using Xunit;

namespace Rlhf.Testing;

/// <summary>
/// A test class whose tests run on a RabbitMQ node and a Redis of its own (<see cref="OwnServers"/>): started before
/// its tests when the real servers are available (<see cref="OwnServers.Enabled"/>), stopped after them.
/// </summary>
public abstract class OnOwnServers : IAsyncLifetime
{
    OwnServers? servers;

    /// <summary>The class's servers; skips the calling test where the real servers are not available.</summary>
    protected OwnServers Servers => servers
        ?? throw new InvalidOperationException(Skip());

    static string Skip()
    {
        Assert.Skip("RLHF_TEST_RABBITMQ is not set (scripts/test.sh sets it and installs the servers this test starts).");
        return "unreachable";
    }

    public virtual async ValueTask InitializeAsync()
    {
        if (OwnServers.Enabled)
            servers = await OwnServers.StartAsync();
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (servers is not null)
            await servers.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
