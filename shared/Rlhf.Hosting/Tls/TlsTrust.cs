using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Rlhf.Hosting.Tls;

/// <summary>
/// The certificates of one <see cref="TlsOptions"/>, loaded once: the private authorities to trust, the client's
/// certificate, and the check of a server's certificate that both the bus and Redis use.
/// </summary>
public sealed class TlsTrust
{
    readonly X509Certificate2Collection? authorities;

    public TlsTrust(TlsOptions options)
    {
        authorities = string.IsNullOrWhiteSpace(options.CaFile) ? null : LoadAuthorities(options.CaFile);
        ClientCertificate = string.IsNullOrWhiteSpace(options.ClientCertFile) ? null : LoadClientCertificate(options.ClientCertFile, options.ClientKeyFile!);
        CaFile = options.CaFile;
    }

    /// <summary>The client certificate with its key, or null.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>The file of <see cref="TlsOptions.CaFile"/>, for messages.</summary>
    public string? CaFile { get; }

    /// <summary>The certificates in a PEM file; fails when there are none.</summary>
    public static X509Certificate2Collection LoadAuthorities(string path)
    {
        var certificates = new X509Certificate2Collection();
        certificates.ImportFromPemFile(path);
        if (certificates.Count == 0)
            throw new InvalidDataException("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return certificates;
    }

    /// <summary>A certificate and its private key from two PEM files.</summary>
    public static X509Certificate2 LoadClientCertificate(string certificatePath, string keyPath) =>
        X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

    /// <summary>The server certificate check, as a .NET validation callback (RabbitMQ.Client and StackExchange.Redis take one).</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        Problem(certificate, chain, errors) is null;

    /// <summary>
    /// Why a server's certificate is refused, or null when it is accepted: it must be there, carry the expected name,
    /// and chain to <see cref="TlsOptions.CaFile"/>'s authorities (to the machine's roots without one).
    /// </summary>
    public string? Problem(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return "the server sent no certificate";
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
            return $"its certificate ({Describe(certificate)}) is not issued to the name this client expects (set ServerName to a name the certificate carries)";
        if (authorities is null)
            return errors == SslPolicyErrors.None
                ? null
                : $"its certificate ({Describe(certificate)}) does not chain to a root this machine trusts ({errors}; set CaFile to the authority's PEM file)";

        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(authorities);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
            foreach (var element in chain.ChainElements)
                own.ChainPolicy.ExtraStore.Add(element.Certificate);
        using var server = new X509Certificate2(certificate);
        if (own.Build(server))
            return null;
        var why = string.Join("; ", own.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return $"its certificate ({Describe(certificate)}) is not signed by an authority in CaFile '{CaFile}' ({why})";
    }

    static string Describe(X509Certificate certificate) => $"subject '{certificate.Subject}', issuer '{certificate.Issuer}'";
}
