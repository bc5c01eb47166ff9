using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Rlhf.Hosting.Tls;

/// <summary>The greeting of a protocol in plain text, and how its server answers: the way to tell a plain port from a TLS port.</summary>
public sealed record PlainProtocol(string Name, byte[] Hello, Func<byte, bool> AnswersPlain)
{
    /// <summary>AMQP 0-9-1: the protocol header; a broker answers with a connection.start frame (type 1) or its own header ('A').</summary>
    public static PlainProtocol Amqp { get; } = new("AMQP", "AMQP\0\0\u0009\u0001"u8.ToArray(), b => b is 1 or (byte)'A');

    /// <summary>Redis: PING; a server answers +PONG, or an error such as -NOAUTH.</summary>
    public static PlainProtocol Redis { get; } = new("Redis", Encoding.ASCII.GetBytes("PING\r\n"), b => b is (byte)'+' or (byte)'-');
}

/// <summary>
/// One connection's check before the host starts: does the server at <see cref="Host"/>:<see cref="Port"/> speak what
/// the settings under <see cref="Section"/> say (TLS with a certificate this client trusts, or plain text)?
/// </summary>
public sealed record TransportProbe(string Section, string Host, int Port, PlainProtocol Protocol, TlsTrust? Tls, string? ServerName)
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Null when the server answers as configured, or when nothing could be learned (no answer: the host starts and its
    /// clients retry, as without the check); otherwise what is wrong, naming the setting to change.
    /// </summary>
    public async Task<ProbeOutcome> CheckAsync(CancellationToken cancellationToken)
    {
        var where = $"{Host}:{Port}";
        if (Tls is null)
        {
            var plain = await PlainAnswerAsync(cancellationToken);
            if (plain is { } first && Protocol.AnswersPlain(first))
                return ProbeOutcome.Fine($"{where} answers plain {Protocol.Name}");
            // A TLS record (alert 0x15, handshake 0x16) in answer to plain text, or a completed handshake: a TLS port.
            if (plain is 0x15 or 0x16 || (plain is null && await HandshakeAsync(trustAnything: true, cancellationToken) is HandshakeResult.Done))
                return ProbeOutcome.Wrong($"{Section}: {where} expects TLS, but TLS is off for this connection. " +
                                          $"Set {TlsSwitch} (and CaFile for a private authority), or point it at the server's plain port.");
            return ProbeOutcome.Unknown($"{where} gave no {Protocol.Name} answer (not checked)");
        }

        var handshake = await HandshakeAsync(trustAnything: false, cancellationToken);
        switch (handshake)
        {
            case HandshakeResult.Done:
                return ProbeOutcome.Fine($"{where} completed a TLS handshake with a trusted certificate");
            case HandshakeResult.Untrusted untrusted:
                return ProbeOutcome.Wrong($"{Section}: the TLS server at {where} is refused: {untrusted.Why}.");
            case HandshakeResult.Unreachable:
                return ProbeOutcome.Unknown($"{where} unreachable (not checked)");
        }

        if (await PlainAnswerAsync(cancellationToken) is { } answer && Protocol.AnswersPlain(answer))
            return ProbeOutcome.Wrong($"{Section}: {where} answers plain {Protocol.Name} (no TLS), but TLS is on for this connection. " +
                                      $"Point the port at the server's TLS listener, or turn TLS off.");
        var failed = (HandshakeResult.Failed)handshake;
        return ProbeOutcome.Wrong($"{Section}: the TLS handshake with {where} failed: {failed.Why}.");
    }

    string TlsSwitch => Protocol == PlainProtocol.Redis ? $"{Section}:Enabled=true (or ssl=true in Redis:Configuration)" : $"{Section}:Enabled=true";

    /// <summary>The first byte the server sends after the plain greeting; null when it sends none in time or is unreachable.</summary>
    async Task<byte?> PlainAnswerAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(Host, Port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(Protocol.Hello, timeout.Token);
            var buffer = new byte[1];
            return await stream.ReadAsync(buffer, timeout.Token) == 1 ? buffer[0] : null;
        }
        catch (Exception error) when (error is SocketException or IOException || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    async Task<HandshakeResult> HandshakeAsync(bool trustAnything, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(Host, Port, timeout.Token);
        }
        catch (Exception error) when (error is SocketException || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new HandshakeResult.Unreachable();
        }

        string? refused = null;
        await using var ssl = new SslStream(client.GetStream());
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = ServerName ?? Host,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (trustAnything)
                    return true;
                refused = Tls!.Problem(certificate, chain, errors);
                return refused is null;
            },
        };
        if (!trustAnything && Tls!.ClientCertificate is { } own)
            options.ClientCertificates = [own];
        try
        {
            await ssl.AuthenticateAsClientAsync(options, timeout.Token);
            return new HandshakeResult.Done();
        }
        catch (AuthenticationException) when (refused is not null)
        {
            return new HandshakeResult.Untrusted(refused);
        }
        catch (Exception error) when (error is AuthenticationException or IOException || (error is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new HandshakeResult.Failed(error is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : error.Message);
        }
    }

    abstract record HandshakeResult
    {
        public sealed record Done : HandshakeResult;

        public sealed record Untrusted(string Why) : HandshakeResult;

        public sealed record Failed(string Why) : HandshakeResult;

        public sealed record Unreachable : HandshakeResult;
    }
}

/// <summary>What a <see cref="TransportProbe"/> found: <see cref="IsWrong"/> stops the host with <see cref="Message"/>.</summary>
public sealed record ProbeOutcome(bool IsWrong, bool IsKnown, string Message)
{
    public static ProbeOutcome Fine(string message) => new(false, true, message);

    public static ProbeOutcome Unknown(string message) => new(false, false, message);

    public static ProbeOutcome Wrong(string message) => new(true, true, message);
}
