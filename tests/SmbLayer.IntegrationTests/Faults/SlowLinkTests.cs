using System.Security.Cryptography;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// Our own slow uplink is not a dead server. Through a proxy that passes 250 KB/s toward the server (a 2 Mbit/s
/// uplink; answers unthrottled), an 8 MiB `smb put` takes about 33 s: each 1–8 MiB WRITE takes seconds to leave,
/// and the ECHO that liveness sends waits behind them. Before liveness judged the server by what it had received
/// (the probe's clock started when it was queued), the link was declared dead every 7.2 s and the upload never
/// ended. Each test asserts the put finishes and the file is byte-exact.
/// </summary>
[Collection("samba-faults")]
public sealed class SlowLinkTests(FaultsSambaFixture fixture) : FaultTestBase(fixture)
{
    private const int Size = 8 * 1024 * 1024;
    private const int UplinkBytesPerSecond = 250 * 1000;

    [SambaFact]
    public Task Put_8MiB_Through250KBpsUplink_Hard_CompletesByteExact() => PutThroughSlowUplinkAsync("--hard");

    [SambaFact]
    public Task Put_8MiB_Through250KBpsUplink_Soft10_CompletesByteExact() => PutThroughSlowUplinkAsync("--soft", "10");

    private async Task PutThroughSlowUplinkAsync(params string[] mode)
    {
        var directory = Directory.CreateTempSubdirectory("smb-slowlink-").FullName;
        try
        {
            var local = Path.Combine(directory, "upload.bin");
            var data = RandomNumberGenerator.GetBytes(Size);
            await File.WriteAllBytesAsync(local, data);
            var name = $"slowlink-{Guid.NewGuid():N}.bin";
            await using var proxy = FaultProxy.StartSlowLink(Server.Port, UplinkBytesPerSecond);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var (code, _, err) = await SmbProgram.RunAsync(Server.Password, Server.UserName,
                [.. mode, "-v", "put", local, $"smb://{Server.UserName}@127.0.0.1:{proxy.Port}/share/{name}"], TimeSpan.FromSeconds(150));
            sw.Stop();
            // The bar is finishing, byte-exact: before, the upload never did (rebuilt every 7.2 s, 150 s with the file
            // still empty). A reconnect is allowed here: a loaded CI machine can starve this process for seconds.
            Assert.True(code == 0, $"smb put exited {code} after {sw.Elapsed.TotalSeconds:0.0} s: {err}");
            Assert.Equal(data, await File.ReadAllBytesAsync(Server.LocalPath(name)));
            Console.WriteLine($"MEASURE put-8MiB-250KBps-uplink {string.Join(' ', mode)} {sw.Elapsed.TotalMilliseconds:0} ms, {proxy.Accepted} connection(s)");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
