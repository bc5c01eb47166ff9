namespace Rlhf.Hosting.Tls;

/// <summary>
/// TLS of one connection kind: <c>Bus:RabbitMq:Tls</c> (the bus and the archive's AMQP connections) and <c>Redis:Tls</c>.
/// Files are PEM. Without <see cref="CaFile"/> the server's certificate must chain to the machine's trusted roots; with it,
/// only to the certificates in that file. The server's name (<see cref="ServerName"/>, else the host) must match the
/// certificate either way.
/// </summary>
public sealed class TlsOptions
{
    /// <summary>Connect with TLS. For Redis, <c>ssl=true</c> in <c>Redis:Configuration</c> turns it on as well.</summary>
    public bool Enabled { get; set; }

    /// <summary>The name the server's certificate must carry (and the SNI name), when it is not the host name (e.g. the host is an IP address).</summary>
    public string? ServerName { get; set; }

    /// <summary>PEM file of the certificate authorities to trust instead of the machine's roots (a private CA).</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM file of this client's certificate, for servers that ask for one (mutual TLS); needs <see cref="ClientKeyFile"/>.</summary>
    public string? ClientCertFile { get; set; }

    /// <summary>PEM file of the private key of <see cref="ClientCertFile"/> (unencrypted PKCS#8, PKCS#1 or SEC1).</summary>
    public string? ClientKeyFile { get; set; }

    /// <summary>
    /// What is wrong with these settings under configuration key <paramref name="section"/> (e.g. <c>Bus:RabbitMq:Tls</c>),
    /// <paramref name="enabled"/> being whether TLS is on: files that do not exist or hold no certificate or key, a
    /// certificate without its key, TLS settings while TLS is off. Empty when they are usable.
    /// </summary>
    public IReadOnlyList<string> Problems(string section, bool enabled)
    {
        var problems = new List<string>();
        if (!enabled)
        {
            foreach (var (name, value) in Files().Prepend((nameof(ServerName), ServerName)))
                if (!string.IsNullOrWhiteSpace(value))
                    problems.Add($"{section}:{name} is set but TLS is off ({section}:Enabled is false); turn it on or remove the setting.");
            return problems;
        }

        if (!string.IsNullOrWhiteSpace(CaFile))
            Check(problems, section, nameof(CaFile), CaFile, () => TlsTrust.LoadAuthorities(CaFile));
        if (string.IsNullOrWhiteSpace(ClientCertFile) != string.IsNullOrWhiteSpace(ClientKeyFile))
            problems.Add($"{section}:{nameof(ClientCertFile)} and {section}:{nameof(ClientKeyFile)} go together: set both or neither.");
        else if (!string.IsNullOrWhiteSpace(ClientCertFile) && File.Exists(ClientCertFile) && File.Exists(ClientKeyFile))
            Check(problems, section, nameof(ClientCertFile), ClientCertFile, () => TlsTrust.LoadClientCertificate(ClientCertFile, ClientKeyFile!).Dispose());
        else if (!string.IsNullOrWhiteSpace(ClientCertFile))
            foreach (var (name, value) in new[] { (nameof(ClientCertFile), ClientCertFile), (nameof(ClientKeyFile), ClientKeyFile!) })
                if (!File.Exists(value))
                    problems.Add($"{section}:{name}: file '{value}' does not exist.");
        return problems;
    }

    IEnumerable<(string Name, string? Value)> Files() =>
        [(nameof(CaFile), CaFile), (nameof(ClientCertFile), ClientCertFile), (nameof(ClientKeyFile), ClientKeyFile)];

    static void Check(List<string> problems, string section, string name, string path, Action load)
    {
        if (!File.Exists(path))
        {
            problems.Add($"{section}:{name}: file '{path}' does not exist.");
            return;
        }

        try
        {
            load();
        }
        catch (Exception error) when (error is System.Security.Cryptography.CryptographicException or ArgumentException or InvalidDataException
                                          or IOException or UnauthorizedAccessException)
        {
            problems.Add($"{section}:{name}: '{path}' is not usable: {error.Message}");
        }
    }
}
