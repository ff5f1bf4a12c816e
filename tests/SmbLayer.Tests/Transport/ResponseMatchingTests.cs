using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>An answer is taken as its request's only when it names that request's command (MS-SMB2 §3.2.5.1); the link then goes down as for any protocol violation (<see cref="ConnectionLossReasonTests"/>).</summary>
public class ResponseMatchingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Response_NamingAnotherCommand_FailsItsRequestAsAProtocolViolation_NamingBoth()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var request = connection.SendAsync(new TestRequest(Smb2Command.Flush), RequestContext.None, default, priority: true);
        var received = await peer.ReadRequestAsync();
        var reply = ScriptedPeer.Response(received); // a success...
        BinaryPrimitives.WriteUInt16LittleEndian(reply.AsSpan(12), (ushort)Smb2Command.Write); // ...that says it answers a WRITE
        await peer.SendMessagesAsync(reply);

        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => request.WaitAsync(Bound));
        Assert.Contains("response to Flush (MessageId", error.Message, StringComparison.Ordinal);
        Assert.Contains("says it answers Write", error.Message, StringComparison.Ordinal);
    }
}
