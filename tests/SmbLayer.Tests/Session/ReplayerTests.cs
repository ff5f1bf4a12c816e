using Microsoft.Extensions.Logging.Abstractions;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Tests.Security;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Session;

/// <summary>
/// The replay rules (DESIGN §6) at the exact moment that matters: the connection drops after the
/// request went out and before its answer. A scripted SMB server sets up a real session and tree first.
/// </summary>
public class ReplayerTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    private static async Task<(SmbConnection, ScriptedPeer, SmbTree)> ConnectedTreeAsync()
    {
        var settings = new ConnectionSettings
        {
            MinDialect = SmbDialect.Smb302,
            MaxDialect = SmbDialect.Smb302,
            Reconnect = true,
            ReconnectAttemptTimeout = TimeSpan.FromMilliseconds(500),
        };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings, markReady: false);
        var server = new ScriptedSmbServer(peer, "alice", "DOM", "Secret-1");
        var negotiate = connection.NegotiateAsync(CancellationToken.None);
        await server.NegotiateAsync(SmbDialect.Smb302, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        await negotiate.WaitAsync(Bound);
        var setup = SmbSession.SetupAsync(connection, new SmbCredentials("alice", "Secret-1", "DOM"), "WS", requireSigning: false,
            allowGuest: false, NullLoggerFactory.Instance, CancellationToken.None);
        await server.SessionSetupAsync(SmbDialect.Smb302);
        var session = await setup.WaitAsync(Bound);
        var tree = SmbTree.ConnectAsync(session, "127.0.0.1", "share", null, NullLoggerFactory.Instance, CancellationToken.None);
        await server.TreeConnectAsync();
        await server.ValidateNegotiateAsync(SmbDialect.Smb302, SecurityMode.SigningEnabled, GlobalCapabilities.LargeMtu);
        return (connection, peer, await tree.WaitAsync(Bound));
    }

    [Fact]
    public async Task NotRepeatable_SentThenConnectionLost_IsOutcomeUnknown()
    {
        var (connection, peer, tree) = await ConnectedTreeAsync();
        await using var _ = connection;
        await using var __ = peer;
        CallPolicy.Enter(new CallPolicy(SmbFailureMode.Hard, TimeSpan.Zero));
        var attempts = 0;
        var rename = Replayer.RunAsync(tree, null, ReplayRule.Never,
            _ =>
            {
                attempts++;
                return new TestRequest(Smb2Command.SetInfo);
            },
            r => r.Status, "Renaming 'a' to 'b'", CancellationToken.None);
        Assert.Equal(Smb2Command.SetInfo, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort(); // lost after the server had the request: it may have renamed
        var error = await Assert.ThrowsAsync<SmbOutcomeUnknownException>(() => rename.WaitAsync(Bound));
        Assert.Contains("may or may not have taken effect", error.Message, StringComparison.Ordinal);
        Assert.IsType<SmbConnectionLostException>(error.InnerException);
        Assert.Equal(1, attempts); // never sent twice
    }

    [Fact]
    public async Task Repeatable_SentThenConnectionLost_Soft_WaitsForReconnectThenTimesOut()
    {
        var (connection, peer, tree) = await ConnectedTreeAsync();
        await using var _ = connection;
        await using var __ = peer;
        CallPolicy.Enter(new CallPolicy(SmbFailureMode.Soft, TimeSpan.FromSeconds(1)));
        var read = Replayer.RunAsync(tree, null, ReplayRule.Always, _ => new TestRequest(Smb2Command.Read), r => r.Status, "Reading 'a'", CancellationToken.None);
        await peer.ReadRequestAsync();
        peer.Abort();
        // A read is repeatable: the caller is not told "outcome unknown"; it waits for the reconnect (which the
        // scripted peer never completes) and gives up after the soft timeout with a timeout error.
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => read.WaitAsync(Bound));
        Assert.Contains("soft timeout", error.Message, StringComparison.Ordinal);
    }
}
