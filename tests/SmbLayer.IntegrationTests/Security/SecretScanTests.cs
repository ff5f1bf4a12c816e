using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using SmbLayer.Security;
using SmbLayer.Session;

namespace SmbLayer.IntegrationTests.Security;

/// <summary>
/// Must show: passwords, NT hashes and session keys never appear in logs (at any level), exception messages or
/// ToString(). Runs client scenarios against Samba with every message captured at Trace level, collects every
/// exception's ToString(), runs the CLI with -vv, and scans all of it.
/// </summary>
[Collection(SambaCollections.Default)]
public sealed class SecretScanTests(DefaultSambaFixture fixture)
{
    private SambaServer Server => fixture.Server;

    [SambaFact]
    public async Task Scenarios_TraceLogsExceptionsAndCliOutput_ContainNoSecrets()
    {
        var keys = new ConcurrentBag<string>();
        var keyText = new ConcurrentBag<string>();
        SmbSession.KeysDerivedObserver = k =>
        {
            foreach (var key in new[] { k.SigningKey, k.EncryptionKey, k.DecryptionKey, k.ApplicationKey }.Where(b => b.Length > 0))
            {
                keys.Add(Convert.ToHexString(key));
            }
            keyText.Add(k.ToString());
        };
        var log = new CapturingLoggerFactory();
        var text = new StringBuilder();
        const string wrongPassword = "Wr0ng-Secret-Pass!";
        try
        {
            var folder = Path.GetFileName(Server.CreateShareDirectory($"secrets-{Guid.NewGuid():N}"));
            foreach (var options in new[]
            {
                new SmbClientOptions { LoggerFactory = log },
                new SmbClientOptions { LoggerFactory = log, RequireSigning = true },
                new SmbClientOptions { LoggerFactory = log, RequireEncryption = true },
                new SmbClientOptions { LoggerFactory = log, MaxDialect = Protocol.SmbDialect.Smb302 },
                new SmbClientOptions { LoggerFactory = log, MaxDialect = Protocol.SmbDialect.Smb210 },
            })
            {
                options.Credentials = new SmbCredentials(Server.UserName, Server.Password);
                await using var client = new SmbClient(options);
                var url = Server.Url($"{folder}/f-{Guid.NewGuid():N}.bin");
                await client.UploadAsync(new MemoryStream(new byte[100_000]), url);
                await client.DownloadAsync(url, new MemoryStream());
                await foreach (var entry in client.ListAsync(Server.Url(folder)))
                {
                    text.AppendLine(entry.ToString());
                }
                text.AppendLine(client.ToString()).AppendLine(options.ToString()).AppendLine(options.Credentials.ToString());
                text.AppendLine((await client.GetSecurityInfoAsync(Server.Url())).ToString());
                // Errors: not found, and a bad share.
                text.AppendLine((await Assert.ThrowsAnyAsync<SmbException>(() => client.DownloadAsync(Server.Url($"{folder}/missing"), new MemoryStream()))).ToString());
                text.AppendLine((await Assert.ThrowsAnyAsync<SmbException>(() => client.ListAsync($"smb://{Server.Host}:{Server.Port}/noshare/").ToListAsync().AsTask())).ToString());
            }
            // Authentication failure, with the wrong password in the URL as well.
            await using (var bad = new SmbClient(new SmbClientOptions { LoggerFactory = log, Credentials = new SmbCredentials(Server.UserName, wrongPassword) }))
            {
                text.AppendLine((await Assert.ThrowsAnyAsync<SmbException>(() => bad.GetSecurityInfoAsync(Server.Url()))).ToString());
                var inUrl = $"smb://{Server.UserName}:{wrongPassword}@{Server.Host}:{Server.Port}/{Server.Share}/";
                text.AppendLine((await Assert.ThrowsAnyAsync<SmbException>(() => bad.GetSecurityInfoAsync(inUrl))).ToString());
            }
            // A connection-level failure (nothing listens there).
            await using (var nowhere = new SmbClient(new SmbClientOptions { LoggerFactory = log, Credentials = new SmbCredentials(Server.UserName, Server.Password), ConnectTimeout = TimeSpan.FromSeconds(2) }))
            {
                text.AppendLine((await Assert.ThrowsAnyAsync<SmbException>(() => nowhere.GetSecurityInfoAsync($"smb://{Server.Host}:1/share/"))).ToString());
            }
            // The CLI at -vv: password from the environment, then in the URL, then a wrong one.
            text.AppendLine(await RunCliAsync(Server.Password, "-vv", "ls", Server.Url(folder)));
            text.AppendLine(await RunCliAsync(null, "-vv", "ls", $"smb://{Server.UserName}:{Server.Password}@{Server.Host}:{Server.Port}/{Server.Share}/{folder}"));
            text.AppendLine(await RunCliAsync(wrongPassword, "-vv", "--encrypt", "ls", Server.Url(folder)));
        }
        finally
        {
            SmbSession.KeysDerivedObserver = null;
        }

        var haystack = log.Text + "\n" + text + "\n" + string.Join("\n", keyText);
        Assert.True(log.Count > 20, $"trace logging captured only {log.Count} messages");
        Assert.NotEmpty(keys);
        var secrets = new List<(string What, string Value)>
        {
            ("password", Server.Password),
            ("wrong password", wrongPassword),
        };
        foreach (var pw in new[] { Server.Password, wrongPassword })
        {
            var hash = Convert.ToHexString(NtlmCrypto.NtHash(pw));
            secrets.Add(("NT hash", hash));
            secrets.Add(("NT hash", hash.ToLowerInvariant()));
            secrets.Add(("password (base64)", Convert.ToBase64String(Encoding.UTF8.GetBytes(pw))));
        }
        foreach (var key in keys.Distinct())
        {
            secrets.Add(("session key", key));
            secrets.Add(("session key", key.ToLowerInvariant()));
        }
        foreach (var (what, value) in secrets)
        {
            Assert.False(haystack.Contains(value, StringComparison.Ordinal), $"{what} found in logs/exceptions/output: ...{Around(haystack, value)}...");
        }
    }

    private static string Around(string text, string value)
    {
        var at = text.IndexOf(value, StringComparison.Ordinal);
        return text.Substring(Math.Max(0, at - 200), Math.Min(text.Length - Math.Max(0, at - 200), 200 + value.Length)).Replace(value, "<SECRET>");
    }

    private async Task<string> RunCliAsync(string? password, params string[] args)
    {
        var (code, stdout, stderr) = await SmbProgram.RunAsync(password, Server.UserName, args, TimeSpan.FromSeconds(60));
        return $"exit {code}\n{System.Text.Encoding.UTF8.GetString(stdout)}\n{stderr}";
    }
}
