namespace Rlhf.Cli.Embedded;

/// <summary>Sends each request to the next of several replicas of one service (same paths, other ports), in turn.</summary>
public sealed class RoundRobinHandler(IReadOnlyList<Uri> replicas) : DelegatingHandler(new SocketsHttpHandler())
{
    int next = -1;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var replica = replicas[(int)((uint)Interlocked.Increment(ref next) % (uint)replicas.Count)];
        request.RequestUri = new UriBuilder(request.RequestUri!) { Scheme = replica.Scheme, Host = replica.Host, Port = replica.Port }.Uri;
        return base.SendAsync(request, cancellationToken);
    }
}
