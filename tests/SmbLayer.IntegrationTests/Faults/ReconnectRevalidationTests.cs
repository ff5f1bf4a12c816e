using SmbLayer.Protocol;
using SmbLayer.Security;

namespace SmbLayer.IntegrationTests.Faults;

/// <summary>
/// A reconnect is validated like the first connect, against real Samba (<c>server signing = mandatory</c>) behind a
/// proxy that plays someone on the path: after a reset it clears SMB2_NEGOTIATE_SIGNING_REQUIRED in the reconnect's
/// NEGOTIATE response. On 3.0.2 nothing else would notice (VALIDATE_NEGOTIATE_INFO ran once, on the first link), and
/// the recovered session would stop signing. The client must refuse the reconnect before SESSION_SETUP.
/// </summary>
[Collection(SambaCollections.SigningMandatory)]
public sealed class ReconnectRevalidationTests(SigningMandatorySambaFixture fixture)
{
    private const ushort NegotiateCommand = 0;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    [SambaFact]
    public async Task Reset_ThenReconnectNegotiateLosesSigningRequired_Smb302_RefusedWithSecurityError_NoSessionSetupSent()
    {
        var server = fixture.Server;
        var name = $"revalidate-{Guid.NewGuid():N}.txt";
        server.WriteShareFile(name, "signed on every link");
        await using var proxy = NegotiateRewritingProxy.Start(server.Port, NegotiateRewritingProxy.ClearSigningRequired);
        await using var client = new SmbClient(new SmbClientOptions
        {
            Credentials = new SmbCredentials(server.UserName, server.Password),
            MaxDialect = SmbDialect.Smb302,
            FailureMode = SmbFailureMode.Soft,
            SoftTimeout = TimeSpan.FromSeconds(20),
        });
        var restored = 0;
        client.ConnectionRestored += (_, _) => Interlocked.Increment(ref restored);
        var url = $"smb://127.0.0.1:{proxy.Port}/share/{name}";

        var info = await client.GetSecurityInfoAsync(url);
        Assert.Equal(SmbDialect.Smb302, info.Dialect);
        Assert.Equal(SigningAlgorithm.AesCmac, info.Signing);
        Assert.True(info.NegotiateValidated);

        // The twin: a reset the proxy leaves alone is recovered, and the session still signs.
        proxy.ResetAll();
        Assert.Equal(20, (await client.GetInfoAsync(url).WaitAsync(Bound)).Size);
        for (var i = 0; i < 200 && Volatile.Read(ref restored) == 0; i++)
        {
            await Task.Delay(50); // the event is raised off the reconnect's thread
        }
        Assert.Equal(1, Volatile.Read(ref restored));
        Assert.Equal(SigningAlgorithm.AesCmac, (await client.GetSecurityInfoAsync(url)).Signing);

        // Someone on the path resets the connection and strips SIGNING_REQUIRED from the reconnect's NEGOTIATE answer.
        proxy.RewriteNewConnections();
        proxy.ResetAll();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => client.GetInfoAsync(url).WaitAsync(Bound));
        var security = FindSecurityError(error);
        Assert.True(security is not null, $"expected an SmbSecurityException, got: {error}");
        Assert.Contains("SecurityMode was 0x0003 (SigningEnabled, SigningRequired), now 0x0001 (SigningEnabled)", security.Message, StringComparison.Ordinal);
        Assert.Equal(1, Volatile.Read(ref restored));

        // On the tampered link the client sent its NEGOTIATE and nothing after it: no SESSION_SETUP.
        var tampered = proxy.Connections.Where(c => c.Rewrites).ToList();
        Assert.NotEmpty(tampered);
        Assert.True(tampered[0].NegotiateRewritten, "the proxy never rewrote a NEGOTIATE response");
        Assert.Equal([NegotiateCommand], tampered[0].ClientCommands);
    }

    private static SmbSecurityException? FindSecurityError(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is SmbSecurityException security)
            {
                return security;
            }
        }
        return null;
    }
}
