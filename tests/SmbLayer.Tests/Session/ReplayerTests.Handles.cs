using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Tests.Protocol;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Session;

/// <summary>
/// A handle whose CLOSE, or whose CREATE's answer, falls on a connection loss (issue 16 item 6): the server keeps the
/// durable open for reclaim, so the client must reclaim it and then close it, or hand it to its caller, on the new
/// FileId. Before, the CLOSE went again on the old FileId (answered FILE_CLOSED, counted as done, the durable handle
/// left on the server until its timeout), a Dispose's CLOSE was dropped, and an open that joined the tree just after
/// the recovery looked for handles kept its dead FileId (first use: FILE_CLOSED).
/// </summary>
public partial class ReplayerTests
{
    /// <summary>The FileId (volatile part) the scripted server gives a reclaimed handle: not the one it had.</summary>
    private const ulong ReclaimedVolatileId = 0x77;

    /// <summary>Takes the reclaim (a CREATE with DH2C) and grants it under <see cref="ReclaimedVolatileId"/>.</summary>
    private static async Task GrantReclaimAsync(ScriptedPeer peer)
    {
        var reclaim = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Create, reclaim.Header.Command);
        Assert.True(reclaim.Message.AsSpan().IndexOf("DH2C"u8) > 0, "the reclaim carries DH2C");
        var body = HandBuiltResponses.CreateWithContexts()[Smb2Header.Size..];
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(72), ReclaimedVolatileId); // CREATE response: FileId at 64
        await peer.ReplyAsync(reclaim, credits: 8, body: body);
    }

    /// <summary>The volatile FileId a CLOSE (body: size, flags, reserved, FileId) or READ (FileId at 16) names.</summary>
    private static ulong VolatileFileIdOf(ReceivedMessage request) => BinaryPrimitives.ReadUInt64LittleEndian(request.Body[(request.Header.Command == Smb2Command.Close ? 16 : 24)..]);

    private static readonly byte[] CloseResponseBody = [60, 0, .. new byte[58]];

    [Fact]
    public async Task Close_CutOffByALoss_HandleReclaimed_TheCloseGoesAgainOnTheReclaimedFileId()
    {
        var (connection, peer, tree, server) = await ConnectedTreeWithServerAsync();
        await using var _ = connection;
        await using var __ = peer;
        RecoverSessionTreeAndHandles(connection, tree);
        var open = await OpenDurableAsync(peer, tree, CallOptions.Hard);
        var oldId = open.FileId;
        var close = open.CloseAsync(CancellationToken.None);
        var first = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Close, first.Header.Command);
        peer.Abort(); // the CLOSE is lost with the connection: the server keeps the durable open for reclaim

        await TakeReconnectAsync(peer, server, treeId: 6);
        await GrantReclaimAsync(peer);
        var again = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Close, again.Header.Command);
        Assert.Equal(ReclaimedVolatileId, VolatileFileIdOf(again));
        Assert.NotEqual(ReclaimedVolatileId, oldId.Volatile);
        await peer.ReplyAsync(again, credits: 8, body: CloseResponseBody);
        await close.WaitAsync(Bound);
        Assert.Empty(tree.Opens);
    }

    [Fact]
    public async Task Dispose_CloseLostWithTheConnection_TheRecoveryReclaimsTheHandleAndClosesIt()
    {
        var (connection, peer, tree, server) = await ConnectedTreeWithServerAsync();
        await using var _ = connection;
        await using var __ = peer;
        RecoverSessionTreeAndHandles(connection, tree);
        var open = await OpenDurableAsync(peer, tree, CallOptions.Hard);
        var letGo = open.CloseWithoutReplayAsync();
        Assert.Equal(Smb2Command.Close, (await peer.ReadRequestAsync()).Header.Command);
        peer.Abort();
        await letGo.WaitAsync(Bound); // a Dispose does not wait for the server to come back

        await TakeReconnectAsync(peer, server, treeId: 6);
        await GrantReclaimAsync(peer);
        var close = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Close, close.Header.Command);
        Assert.Equal(ReclaimedVolatileId, VolatileFileIdOf(close));
        await peer.ReplyAsync(close, credits: 8, body: CloseResponseBody);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (tree.Opens.Count != 0 && sw.Elapsed < Bound)
        {
            await Task.Delay(20);
        }
        Assert.Empty(tree.Opens);
    }

    [Fact]
    public async Task Create_AnsweredJustBeforeALoss_TheOpenIsReclaimedByItsCall_AndReadsOnTheReclaimedFileId()
    {
        var (connection, peer, tree, server) = await ConnectedTreeWithServerAsync();
        await using var _ = connection;
        await using var __ = peer;
        RecoverSessionTreeAndHandles(connection, tree);
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tree.BeforeOpenJoins = async () =>
        {
            answered.TrySetResult();
            await recovered.Task;
        };
        var create = tree.CreateAsync(new CreateRequest("f.bin")
        {
            DesiredAccess = AccessMask.FileReadData,
            CreateOptions = CreateOptions.NonDirectoryFile,
        }, CallOptions.Hard, HandleDurability.Durable, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        await peer.ReplyAsync(request, credits: 8, body: HandBuiltResponses.CreateWithContexts()[Smb2Header.Size..]);
        await answered.Task.WaitAsync(Bound);

        // The connection is lost and fully recovered (session, tree, the handles it knew of) before the open joins.
        peer.Abort();
        await TakeReconnectAsync(peer, server, treeId: 6);
        await connection.WaitForReadyAsync(null, CancellationToken.None).WaitAsync(Bound);
        tree.BeforeOpenJoins = null;
        recovered.TrySetResult();

        await GrantReclaimAsync(peer);
        var open = await create.WaitAsync(Bound);
        Assert.Equal(ReclaimedVolatileId, open.FileId.Volatile);
        Assert.Equal(1, open.ReclaimCount);
        var read = open.ReadBufferAsync(0, 4, CancellationToken.None);
        var sent = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Read, sent.Header.Command);
        Assert.Equal(ReclaimedVolatileId, VolatileFileIdOf(sent));
        await peer.ReplyAsync(sent, credits: 8, body: ReadResponseBody([1, 2, 3, 4]));
        using var data = await read.WaitAsync(Bound);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, data.Data.ToArray());
    }
}
