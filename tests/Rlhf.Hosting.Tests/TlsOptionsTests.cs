using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Rlhf.Testing;

namespace Rlhf.Hosting.Tests;

/// <summary>TLS settings are checked when the host is built: each unusable file or combination stops it, naming the key.</summary>
public sealed class TlsOptionsTests : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("rlhf-tls-options-").FullName;

    public void Dispose() => TestDirectory.Delete(directory);

    static string Problems(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        return Assert.Throws<OptionsValidationException>(() => builder.AddServiceDefaults()).Message;
    }

    /// <summary>A self-signed certificate and its key as two PEM files.</summary>
    (string Certificate, string Key) Pem(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var paths = (Path.Combine(directory, $"{name}.pem"), Path.Combine(directory, $"{name}.key"));
        File.WriteAllText(paths.Item1, certificate.ExportCertificatePem());
        File.WriteAllText(paths.Item2, key.ExportPkcs8PrivateKeyPem());
        return paths;
    }

    [Fact]
    public void A_missing_ca_file_is_named()
    {
        var missing = Path.Combine(directory, "nowhere.pem");
        var message = Problems(new() { ["Bus:RabbitMq:Tls:Enabled"] = "true", ["Bus:RabbitMq:Tls:CaFile"] = missing });
        Assert.Contains($"Bus:RabbitMq:Tls:CaFile: file '{missing}' does not exist", message);
    }

    [Fact]
    public void A_ca_file_without_a_certificate_is_named()
    {
        var notPem = Path.Combine(directory, "ca.txt");
        File.WriteAllText(notPem, "not a certificate");
        var message = Problems(new() { ["Redis:Configuration"] = "localhost:6380,ssl=true", ["Redis:Tls:CaFile"] = notPem });
        Assert.Contains($"Redis:Tls:CaFile: '{notPem}' is not usable", message);
    }

    [Fact]
    public void A_client_certificate_needs_its_key_and_a_key_must_match()
    {
        var (certificate, _) = Pem("client");
        var alone = Problems(new() { ["Bus:RabbitMq:Tls:Enabled"] = "true", ["Bus:RabbitMq:Tls:ClientCertFile"] = certificate });
        Assert.Contains("Bus:RabbitMq:Tls:ClientCertFile and Bus:RabbitMq:Tls:ClientKeyFile go together", alone);

        var (_, otherKey) = Pem("other");
        var mismatch = Problems(new()
        {
            ["Bus:RabbitMq:Tls:Enabled"] = "true",
            ["Bus:RabbitMq:Tls:ClientCertFile"] = certificate,
            ["Bus:RabbitMq:Tls:ClientKeyFile"] = otherKey,
        });
        Assert.Contains($"Bus:RabbitMq:Tls:ClientCertFile: '{certificate}' is not usable", mismatch);
    }

    [Fact]
    public void Tls_settings_while_tls_is_off_are_named()
    {
        var (certificate, _) = Pem("ca");
        var message = Problems(new() { ["Redis:Configuration"] = "localhost:6379", ["Redis:Tls:CaFile"] = certificate, ["Bus:RabbitMq:Tls:ServerName"] = "broker" });
        Assert.Contains("Redis:Tls:CaFile is set but TLS is off", message);
        Assert.Contains("Bus:RabbitMq:Tls:ServerName is set but TLS is off", message);
    }

    [Fact]
    public void Usable_files_pass()
    {
        var (ca, _) = Pem("ca");
        var (certificate, key) = Pem("client");
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bus:RabbitMq:Tls:Enabled"] = "true",
            ["Bus:RabbitMq:Tls:CaFile"] = ca,
            ["Bus:RabbitMq:Tls:ClientCertFile"] = certificate,
            ["Bus:RabbitMq:Tls:ClientKeyFile"] = key,
        });
        builder.AddServiceDefaults();
    }
}
