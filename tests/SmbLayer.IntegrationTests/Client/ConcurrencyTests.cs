using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Client;

[Collection(SambaCollections.Default)]
public sealed class ConcurrencyTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    [SambaFact]
    public async Task SixtyFourConcurrentReads_OneConnection_AllCorrect()
    {
        var folder = $"concurrency-{Guid.NewGuid():N}";
        Server.CreateShareDirectory(folder);
        var files = Enumerable.Range(0, 64).Select(i =>
        {
            var data = RandomNumberGenerator.GetBytes(256 * 1024 + i * 977);
            Server.WriteShareFile($"{folder}/f{i:D2}.bin", data);
            return (Name: $"{folder}/f{i:D2}.bin", Hash: SHA256.HashData(data));
        }).ToArray();

        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });
        // Warm up so every reader shares the one pooled connection.
        await client.GetInfoAsync(Server.Url(folder));
        var results = await Task.WhenAll(files.Select(async f =>
        {
            var buffer = new MemoryStream();
            await client.DownloadAsync(Server.Url(f.Name), buffer);
            return SHA256.HashData(buffer.ToArray());
        }));
        for (var i = 0; i < files.Length; i++)
        {
            Assert.Equal(files[i].Hash, results[i]);
        }
        Assert.Equal(1, client.PooledConnectionCount);
        Assert.Equal(0, await Server.CountOpenFilesAsync());
    }

    [SambaFact]
    public async Task TwoShares_SameServer_ShareOneConnection()
    {
        await using var client = new SmbClient(new SmbClientOptions { Credentials = new SmbCredentials(Server.UserName, Server.Password) });
        await client.GetInfoAsync(Server.Url());
        await client.GetDialectAsync($"smb://{Server.Host}:{Server.Port}/IPC$"); // a tree connect to a second share
        Assert.Equal(1, client.PooledConnectionCount);
    }
}
