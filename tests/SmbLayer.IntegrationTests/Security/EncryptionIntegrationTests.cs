using System.Security.Cryptography;
using SmbLayer.Protocol;

namespace SmbLayer.IntegrationTests.Security;

/// <summary>Encryption against Samba: each cipher pinned on the server, each pinned on the client, and the client's own requirement.</summary>
public sealed class CipherPerServerTests
{
    /// <summary>
    /// Must show: each of the four ciphers round-trips a 64 MiB file byte-exact against a Samba that requires
    /// encryption and allows only that cipher (the client offers all four, GCM first).
    /// </summary>
    [SambaTheory]
    [InlineData(SambaProfile.EncryptAes128Ccm, SmbCipher.Aes128Ccm)]
    [InlineData(SambaProfile.EncryptAes128Gcm, SmbCipher.Aes128Gcm)]
    [InlineData(SambaProfile.EncryptAes256Ccm, SmbCipher.Aes256Ccm)]
    [InlineData(SambaProfile.EncryptAes256Gcm, SmbCipher.Aes256Gcm)]
    public async Task PinnedServerCipher_64MiBRoundTrip_IsByteExactAndEncrypted(SambaProfile profile, SmbCipher expected)
    {
        await using var server = await SambaServer.StartAsync(profile);
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(server.UserName, server.Password) });
        var info = await client.GetSecurityInfoAsync(server.Url());
        Assert.Equal(SmbDialect.Smb311, info.Dialect);
        Assert.Equal((CipherId)expected, info.Cipher);
        Assert.True(info.SessionEncrypts, "Samba set SMB2_SESSION_FLAG_ENCRYPT_DATA");

        var data = RandomNumberGenerator.GetBytes(64 * 1024 * 1024);
        var url = server.Url("big.bin");
        Assert.Equal(data.Length, await client.UploadAsync(new MemoryStream(data), url));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await File.ReadAllBytesAsync(server.LocalPath("big.bin"))));
        var back = new MemoryStream();
        Assert.Equal(data.Length, await client.DownloadAsync(url, back));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(back.ToArray()));
    }
}

[Collection(SambaCollections.EncryptionRequired)]
public sealed class CipherPerClientTests(EncryptionRequiredSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    [SambaTheory]
    [InlineData(SmbCipher.Aes128Ccm)]
    [InlineData(SmbCipher.Aes128Gcm)]
    [InlineData(SmbCipher.Aes256Ccm)]
    [InlineData(SmbCipher.Aes256Gcm)]
    public async Task ClientOffersOneCipher_ServerUsesIt_RoundTripIsExact(SmbCipher cipher)
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            Ciphers = [cipher],
        });
        var info = await client.GetSecurityInfoAsync(Server.Url());
        Assert.Equal((CipherId)cipher, info.Cipher);
        Assert.True(info.SessionEncrypts);
        var folder = Server.CreateShareDirectory($"pin-{cipher}-{Guid.NewGuid():N}");
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var url = Server.Url($"{Path.GetFileName(folder)}/f.bin");
        await client.UploadAsync(new MemoryStream(data), url);
        var back = new MemoryStream();
        await client.DownloadAsync(url, back);
        Assert.Equal(data, back.ToArray());
    }

    [SambaFact]
    public async Task DefaultOffer_ServerPicksGcm()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });
        var info = await client.GetSecurityInfoAsync(Server.Url());
        Assert.Equal(CipherId.Aes128Gcm, info.Cipher);
    }

    [SambaFact]
    public async Task Smb202Only_AgainstEncryptionRequired_FailsWithTypedError()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            MaxDialect = SmbDialect.Smb210,
        });
        // Samba refuses the unencrypted session or tree; whatever it does, the error is typed.
        var ex = await Assert.ThrowsAnyAsync<SmbException>(() => client.GetSecurityInfoAsync(Server.Url()));
        Assert.False(string.IsNullOrEmpty(ex.Message));
    }
}

[Collection(SambaCollections.Default)]
public sealed class ClientRequiresEncryptionTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    [SambaFact]
    public async Task RequireEncryption_DefaultSamba_SessionEncrypts()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            RequireEncryption = true,
        });
        var info = await client.GetSecurityInfoAsync(Server.Url());
        Assert.True(info.SessionEncrypts);
        Assert.True(info.TreeEncrypts);
        Assert.Equal(CipherId.Aes128Gcm, info.Cipher);
        var data = RandomNumberGenerator.GetBytes(2 * 1024 * 1024);
        var folder = Path.GetFileName(Server.CreateShareDirectory($"enc-{Guid.NewGuid():N}"));
        await client.UploadAsync(new MemoryStream(data), Server.Url($"{folder}/x.bin"));
        var back = new MemoryStream();
        await client.DownloadAsync(Server.Url($"{folder}/x.bin"), back);
        Assert.Equal(data, back.ToArray());
    }

    [SambaFact]
    public async Task RequireEncryption_ClientCappedAt21_RefusedWithClearError()
    {
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            RequireEncryption = true,
            MaxDialect = SmbDialect.Smb210,
        });
        var ex = await Assert.ThrowsAsync<SmbSecurityException>(() => client.GetSecurityInfoAsync(Server.Url()));
        Assert.Contains("Encryption was required", ex.Message);
        Assert.Contains("2.1", ex.Message);
    }
}

[Collection(SambaCollections.MaxSmb3_02)]
public sealed class ClientRequiresEncryptionSmb302Tests(MaxSmb3_02SambaFixture fixture)
{
    [SambaFact]
    public async Task RequireEncryption_Smb302_UsesAes128CcmAndValidatesNegotiate()
    {
        var server = fixture.Server;
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(server.UserName, server.Password),
            RequireEncryption = true,
        });
        var info = await client.GetSecurityInfoAsync(server.Url());
        Assert.Equal(SmbDialect.Smb302, info.Dialect);
        Assert.Equal(CipherId.Aes128Ccm, info.Cipher);
        Assert.True(info.SessionEncrypts);
        Assert.True(info.NegotiateValidated);
    }
}
