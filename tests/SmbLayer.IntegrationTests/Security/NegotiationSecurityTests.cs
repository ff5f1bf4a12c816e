using System.Security.Cryptography;
using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.IntegrationTests.Security;

[Collection(SambaCollections.Default)]
public sealed class GmacSigningTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    /// <summary>Must show: AES-GMAC negotiated through the 3.1.1 signing-capabilities context and verified on every response.</summary>
    [SambaFact]
    public async Task RequireSigning_Smb311_NegotiatesAesGmacAndVerifies()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            RequireSigning = true,
        });
        var info = await client.GetSecurityInfoAsync(Server.Url());
        Assert.Equal(SmbDialect.Smb311, info.Dialect);
        Assert.Equal(SigningAlgorithm.AesGmac, info.Signing);
        Assert.False(info.SessionEncrypts);
        // Traffic under the signer: every response is checked (a bad or missing signature closes the connection).
        var folder = Path.GetFileName(Server.CreateShareDirectory($"gmac-{Guid.NewGuid():N}"));
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        await client.UploadAsync(new MemoryStream(data), Server.Url($"{folder}/g.bin"));
        var back = new MemoryStream();
        await client.DownloadAsync(Server.Url($"{folder}/g.bin"), back);
        Assert.Equal(data, back.ToArray());
    }
}

[Collection(SambaCollections.SigningMandatory)]
public sealed class ServerRequiresSigningTests(SigningMandatorySambaFixture fixture)
{
    [SambaFact]
    public async Task ServerSigningMandatory_Smb311_UsesAesGmac()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password) });
        var info = await client.GetSecurityInfoAsync(fixture.Server.Url());
        Assert.Equal(SigningAlgorithm.AesGmac, info.Signing);
    }

    [SambaFact]
    public async Task ServerSigningMandatory_Smb300_UsesAesCmacAndValidatesNegotiate()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password),
            MaxDialect = SmbDialect.Smb300,
        });
        var info = await client.GetSecurityInfoAsync(fixture.Server.Url());
        Assert.Equal(SigningAlgorithm.AesCmac, info.Signing);
        Assert.True(info.NegotiateValidated);
    }
}

[Collection(SambaCollections.MaxSmb3_00)]
public sealed class ValidateNegotiateSmb300Tests(MaxSmb3_00SambaFixture fixture)
{
    [SambaFact]
    public async Task Smb300_AfterTreeConnect_NegotiateIsValidated()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password) });
        var info = await client.GetSecurityInfoAsync(fixture.Server.Url());
        Assert.Equal(SmbDialect.Smb300, info.Dialect);
        Assert.True(info.NegotiateValidated, "Samba answered FSCTL_VALIDATE_NEGOTIATE_INFO and it matched");
    }
}

[Collection(SambaCollections.MaxSmb3_02)]
public sealed class ValidateNegotiateSmb302Tests(MaxSmb3_02SambaFixture fixture)
{
    [SambaFact]
    public async Task Smb302_AfterTreeConnect_NegotiateIsValidated()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password) });
        var info = await client.GetSecurityInfoAsync(fixture.Server.Url());
        Assert.Equal(SmbDialect.Smb302, info.Dialect);
        Assert.True(info.NegotiateValidated);
    }
}

[Collection(SambaCollections.MaxSmb2_10)]
public sealed class DowngradeRefusalTests(MaxSmb2_10SambaFixture fixture)
{
    /// <summary>Must show: a client with minimum dialect 3.0 refuses a server capped at SMB2_10 with a clear error.</summary>
    [SambaFact]
    public async Task MinDialect30_ServerCappedAt210_RefusedWithClearError()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password),
            MinDialect = SmbDialect.Smb300,
        });
        var ex = await Assert.ThrowsAsync<SmbSecurityException>(() => client.GetSecurityInfoAsync(fixture.Server.Url()));
        Assert.Contains("3.0", ex.Message);
        Assert.Contains(fixture.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message);
    }

    [SambaFact]
    public async Task RequireEncryption_ServerCappedAt210_RefusedWithClearError()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(fixture.Server.UserName, fixture.Server.Password),
            RequireEncryption = true,
        });
        var ex = await Assert.ThrowsAsync<SmbSecurityException>(() => client.GetSecurityInfoAsync(fixture.Server.Url()));
        Assert.Contains("no encryption", ex.Message);
    }
}

/// <summary>Samba with <c>map to guest = bad user</c>: an unknown user is logged on as guest unless the client refuses.</summary>
public sealed class GuestFallbackTests
{
    [SambaFact]
    public async Task UnknownUser_ServerMapsToGuest_IsRefusedByDefault()
    {
        await using var server = await SambaServer.StartAsync(SambaProfile.Guest);
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials("nosuchuser", "whatever-pw") });
        var url = server.Url().Replace("/share/", "/public/", StringComparison.Ordinal);
        var ex = await Assert.ThrowsAsync<SmbAuthenticationException>(() => client.GetSecurityInfoAsync(url));
        Assert.Contains("guest", ex.Message);

        // Opted in: the same logon is accepted as a guest session and the guest share works.
        await using var optIn = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials("nosuchuser", "whatever-pw"), AllowGuest = true });
        var info = await optIn.GetSecurityInfoAsync(url);
        Assert.True(info.IsGuest);
        await optIn.UploadAsync(new MemoryStream("guest data"u8.ToArray()), url + "g.txt");
    }
}
