using System.Diagnostics;
using System.Text;

namespace SmbLayer.IntegrationTests.Cli;

/// <summary>Must show: `smb --encrypt` against a default Samba produces encrypted traffic, checked on the wire with tshark.</summary>
[Collection(SambaCollections.Default)]
public sealed class SmbCliEncryptionWireTests(DefaultSambaFixture fixture)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private SambaServer Server => fixture.Server;

    [SambaFact]
    public async Task PutWithEncrypt_OnTheWire_OnlyTransformFramesAfterSessionSetup()
    {
        if (!File.Exists("/usr/bin/tshark") && SambaAvailability.IsCi is false)
        {
            return; // tshark is installed on CI; elsewhere this check is optional
        }
        var marker = $"PLAINTEXT-MARKER-{Guid.NewGuid():N}";
        var local = Path.Combine(Path.GetTempPath(), $"enc-{Guid.NewGuid():N}.txt");
        await File.WriteAllTextAsync(local, string.Concat(Enumerable.Repeat(marker + "\n", 200)));
        try
        {
            var encrypted = await CaptureAsync(["put", local, Server.Url("encrypted.txt"), "--encrypt"]);
            var plain = await CaptureAsync(["put", local, Server.Url("plain.txt")]);

            Assert.Equal(await File.ReadAllTextAsync(local), await File.ReadAllTextAsync(Server.LocalPath("encrypted.txt")));
            // Without --encrypt the file content is visible on the wire: the capture works.
            Assert.Contains(marker, Encoding.ASCII.GetString(plain.Raw));
            Assert.DoesNotContain(marker, Encoding.ASCII.GetString(encrypted.Raw));
            // Decoded by tshark: plaintext SMB2 only for NEGOTIATE (0) and SESSION_SETUP (1), then TRANSFORM headers.
            var commands = encrypted.Fields.Where(f => f.Cmd.Length > 0).Select(f => f.Cmd).Distinct().ToArray();
            Assert.All(commands, c => Assert.True(c is "0" or "1", $"plaintext SMB2 command {c} seen with --encrypt"));
            Assert.True(encrypted.Fields.Count(f => f.TransformSize.Length > 0) >= 4, "TRANSFORM frames on the wire");
            Assert.DoesNotContain(plain.Fields, f => f.TransformSize.Length > 0);
        }
        finally
        {
            File.Delete(local);
        }
    }

    private sealed record Capture(byte[] Raw, List<(string Cmd, string TransformSize)> Fields);

    private async Task<Capture> CaptureAsync(string[] smbArgs)
    {
        var pcap = Path.Combine(Path.GetTempPath(), $"smb-{Guid.NewGuid():N}.pcap");
        var capture = new ProcessStartInfo(TestPrograms.Require("tshark")) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // -P -l: a line on stdout for every packet as it is captured, so the test can see the capture is live.
        foreach (var a in new[] { "-i", "lo", "-f", $"tcp port {Server.Port}", "-w", pcap, "-F", "pcap", "-a", "duration:60", "-P", "-l" })
        {
            capture.ArgumentList.Add(a);
        }
        using var tshark = Process.Start(capture)!;
        try
        {
            // tshark says "Capturing on 'Loopback...'" once the capture is live.
            using (var cts = new CancellationTokenSource(Bound))
            {
                while (true)
                {
                    var line = await tshark.StandardError.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException("tshark exited before capturing");
                    if (line.Contains("Capturing on", StringComparison.Ordinal))
                    {
                        break;
                    }
                }
            }
            _ = tshark.StandardError.ReadToEndAsync();
            await WaitUntilCapturingAsync(tshark);
            var (code, _, stderr) = await SmbProgram.RunAsync(Server.Password, Server.UserName, smbArgs, Bound);
            Assert.True(code == 0, $"smb {string.Join(' ', smbArgs)} exited {code}: {stderr}");
            await Task.Delay(500);
        }
        finally
        {
            // SIGINT lets tshark flush the file; it is our own child, addressed by its pid.
            using (var kill = Process.Start(TestPrograms.Require("kill"), ["-INT", tshark.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }
            using var cts = new CancellationTokenSource(Bound);
            try
            {
                await tshark.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                tshark.Kill();
            }
        }
        var raw = await File.ReadAllBytesAsync(pcap);
        var read = new ProcessStartInfo(TestPrograms.Require("tshark")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-r", pcap, "-d", $"tcp.port=={Server.Port},nbss", "-Y", "smb2", "-T", "fields", "-E", "occurrence=f",
                     "-e", "smb2.cmd", "-e", "smb2.header.transform.msg_size" })
        {
            read.ArgumentList.Add(a);
        }
        using var reader = Process.Start(read)!;
        var output = await reader.StandardOutput.ReadToEndAsync();
        await reader.WaitForExitAsync();
        File.Delete(pcap);
        var fields = output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t'))
            .Select(p => (p[0].Trim(), p.Length > 1 ? p[1].Trim() : ""))
            .ToList();
        return new Capture(raw, fields);
    }

    /// <summary>
    /// "Capturing on" comes before the capture sees packets: a command started at once lost its first packets
    /// (the whole small upload, now and then, with the native CLI that starts in milliseconds). So connect to the
    /// server's port (the capture's filter) until tshark reports a packet, then drain what it prints.
    /// </summary>
    private async Task WaitUntilCapturingAsync(Process tshark)
    {
        var firstPacket = tshark.StandardOutput.ReadLineAsync();
        for (var attempt = 0; attempt < 100 && !firstPacket.IsCompleted; attempt++)
        {
            using (var probe = new System.Net.Sockets.TcpClient())
            {
                await probe.ConnectAsync(System.Net.IPAddress.Loopback, Server.Port);
            }
            await Task.WhenAny(firstPacket, Task.Delay(100));
        }
        Assert.True(firstPacket.IsCompleted && await firstPacket is not null, "tshark never reported a captured packet");
        _ = tshark.StandardOutput.ReadToEndAsync();
    }
}
