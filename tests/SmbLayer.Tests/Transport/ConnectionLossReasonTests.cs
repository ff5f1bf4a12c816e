using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>A lost connection says why, as a <see cref="SmbConnectionLossReason"/>, with the error beside it.</summary>
public class ConnectionLossReasonTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    public static TheoryData<string, SmbConnectionLossReason> Losses() => new()
    {
        { "server closes", SmbConnectionLossReason.ServerClosed },
        { "server resets", SmbConnectionLossReason.NetworkError },
        { "malformed frame", SmbConnectionLossReason.ProtocolViolation },
        { "another command's answer", SmbConnectionLossReason.ProtocolViolation },
        { "server silent", SmbConnectionLossReason.ServerUnresponsive },
    };

    [Theory]
    [MemberData(nameof(Losses))]
    public async Task Loss_WhileReady_StateChangeCarriesItsReason(string how, SmbConnectionLossReason expected)
    {
        var settings = new ConnectionSettings { ProbeDelay = TimeSpan.FromMilliseconds(200), EchoTimeout = TimeSpan.FromMilliseconds(500) };
        var (connection, peer) = await ScriptedPeer.StartAsync(settings);
        await using var _ = connection;
        await using var __ = peer;
        var lost = new TaskCompletionSource<ConnectionStateChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.StateChanged += change =>
        {
            if (change.From == ConnectionState.Ready && change.Error is not null)
            {
                lost.TrySetResult(change);
            }
        };
        var request = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        var received = await peer.ReadRequestAsync();
        switch (how)
        {
            case "server closes":
                await peer.DisposeAsync();
                break;
            case "server resets":
                peer.Abort();
                break;
            case "malformed frame":
                await peer.SendRawAsync([0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
                break;
            case "another command's answer":
                var reply = ScriptedPeer.Response(received);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(reply.AsSpan(12), (ushort)SmbLayer.Protocol.Smb2Command.Write);
                await peer.SendMessagesAsync(reply);
                break;
            case "server silent":
                break; // the request stays unanswered, and so does the ECHO liveness sends
        }
        var change = await lost.Task.WaitAsync(Bound);
        Assert.Equal(expected, change.Reason);
        Assert.Equal(ConnectionState.Closed, change.To);
        await Assert.ThrowsAnyAsync<SmbException>(() => request.WaitAsync(Bound));
    }
}
