using System.Diagnostics;
using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>A Samba of its own for the fault suite, so it runs beside the conformance collections and its open-file counts are its own.</summary>
public sealed class FaultsSambaFixture() : SambaFixture(SambaProfile.Default);

[CollectionDefinition("samba-faults")]
public sealed class FaultsSambaCollection : ICollectionFixture<FaultsSambaFixture>;

/// <summary>Helpers shared by the fault tests: a proxy in front of the server, clients pointed at it, checks on the server's state.</summary>
public abstract class FaultTestBase(FaultsSambaFixture fixture)
{
    protected SambaServer Server => fixture.Server;

    protected static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    /// <summary>Fast liveness for tests that are about what happens after detection, not about the default numbers.</summary>
    protected static void FastLiveness(SmbClientOptions o)
    {
        o.ProbeDelay = TimeSpan.FromMilliseconds(500);
        o.EchoTimeout = TimeSpan.FromSeconds(1);
    }

    protected SmbClient NewClient(SmbFailureMode mode, TimeSpan? soft = null, Action<SmbClientOptions>? configure = null)
    {
        var options = new SmbClientOptions
        {
            Credentials = new SmbCredentials(Server.UserName, Server.Password),
            FailureMode = mode,
            SoftTimeout = soft ?? TimeSpan.FromSeconds(30),
        };
        configure?.Invoke(options);
        return new SmbClient(options);
    }

    protected static string Url(FaultProxy proxy, string path) => $"smb://127.0.0.1:{proxy.Port}/share/{path}";

    protected string NewFile(string stem, int size, out byte[] data)
    {
        var name = $"{stem}-{Guid.NewGuid():N}.bin";
        data = RandomNumberGenerator.GetBytes(size);
        Server.WriteShareFile(name, data);
        return name;
    }

    /// <summary>Waits (bounded) until the server holds no open file: old sessions are torn down asynchronously.</summary>
    protected async Task AssertNoOpenFilesAsync()
    {
        var sw = Stopwatch.StartNew();
        int open;
        while ((open = await Server.CountOpenFilesAsync()) != 0 && sw.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(200);
        }
        Assert.True(open == 0, $"the server still holds {open} open file(s):\n{await Server.SmbStatusAsync()}");
    }

    /// <summary>Reads a stream to the end in chunks, calling <paramref name="after"/> once after <paramref name="triggerAt"/> bytes.</summary>
    protected static async Task<byte[]> ReadAllAsync(Stream stream, long triggerAt, Func<Task> after, int chunk = 256 * 1024)
    {
        var result = new MemoryStream();
        var buffer = new byte[chunk];
        var fired = false;
        int n;
        while ((n = await stream.ReadAsync(buffer)) > 0)
        {
            result.Write(buffer, 0, n);
            if (!fired && result.Length >= triggerAt)
            {
                fired = true;
                await after();
            }
        }
        Assert.True(fired, "the fault was never injected");
        return result.ToArray();
    }
}
