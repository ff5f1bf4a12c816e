using System.Globalization;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Client;

/// <summary>
/// The client over IPv6: the private smbd listens on ::1 as well as 127.0.0.1 (scripts/samba-server.sh), and a URL
/// with a bracketed address (<c>smb://[::1]:PORT/share/…</c>) or a UNC path (<c>\\::1@PORT\share\…</c>) reaches it.
/// </summary>
[Collection(SambaCollections.Default)]
public sealed class Ipv6LoopbackTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    private string Url(string path) => $"smb://[::1]:{Server.Port.ToString(CultureInfo.InvariantCulture)}/{Server.Share}/{path}";

    [SambaFact]
    public async Task BracketedIpv6Url_WriteListReadBack_ByteExact()
    {
        var folder = $"ipv6-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        var data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });

        await using (var write = await client.OpenWriteAsync(Url($"{folder}/data.bin")))
        {
            await write.WriteAsync(data);
        }
        var names = new List<string>();
        await foreach (var entry in client.ListAsync(Url(folder)))
        {
            names.Add(entry.Name);
        }
        Assert.Equal(["data.bin"], names);
        var back = new MemoryStream();
        await client.DownloadAsync(Url($"{folder}/data.bin"), back);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(back.ToArray()));
        // The same file through the UNC form of the address.
        var unc = $@"\\::1@{Server.Port.ToString(CultureInfo.InvariantCulture)}\{Server.Share}\{folder}\data.bin";
        Assert.Equal(data.Length, (await client.GetInfoAsync(unc)).Size);
        Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath($"{folder}/data.bin")));
    }
}
