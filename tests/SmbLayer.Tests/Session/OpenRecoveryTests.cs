using System.Buffers.Binary;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Tests.Protocol;
using SmbLayer.Tests.Transport;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Session;

/// <summary>
/// Durable handles across a reconnect at the moments the recovery can miss them: a CREATE answered just before the
/// connection drops, a CLOSE on the wire when it drops. A scripted SMB server plays both connections.
/// </summary>
public class OpenRecoveryTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private static readonly Smb2FileId FirstId = new(0x1111, 0x2222);
    private static readonly Smb2FileId ReclaimedId = new(0x1111, 0x3333);

    /// <summary>What the client pool registers: sessions, then trees, then the opens, recover after NEGOTIATE.</summary>
    private static void RecoverSessionTreeAndOpens(SmbConnection connection, SmbTree tree) =>
        connection.AddRecoveryStep(async ct =>
        {
            await tree.Session.RecoverAsync(ct);
            await tree.RecoverAsync(ct);
            await tree.RecoverOpensAsync(null, ct);
        });

    private static CreateRequest FileRequest(string name) => new(name)
    {
        DesiredAccess = AccessMask.FileReadData | AccessMask.FileWriteData,
        CreateOptions = CreateOptions.NonDirectoryFile,
    };

    /// <summary>A CREATE response body granting <paramref name="fileId"/> with a lease and a durable handle (DH2Q).</summary>
    private static byte[] DurableCreateBody(Smb2FileId fileId)
    {
        var body = HandBuiltResponses.CreateWithContexts()[Smb2Header.Size..];
        fileId.WriteTo(body.AsSpan(CreateResponseFileIdOffset));
        return body;
    }

    /// <summary>FileId in a CREATE response body (MS-SMB2 §2.2.14): after StructureSize … Reserved2, 64 bytes in.</summary>
    private const int CreateResponseFileIdOffset = 64;

    /// <summary>The FileId a DH2C context (MS-SMB2 §2.2.13.2.12) in a CREATE request names, or null when there is none.</summary>
    private static Smb2FileId? DurableReconnectFileIdOf(ReceivedMessage create)
    {
        var message = create.Message;
        var at = message.AsSpan().IndexOf("DH2C"u8);
        if (at < 0)
        {
            return null;
        }
        // Context: Next(4) NameOffset(2) NameLength(2) Reserved(2) DataOffset(2) DataLength(4) Name(4) Padding(4) Data(36).
        var contextStart = at - 16;
        var dataOffset = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(contextStart + 10));
        return Smb2FileId.Read(message.AsSpan(contextStart + dataOffset));
    }

    [Fact]
    public async Task DurableCreate_ConnectionLostAfterTheAnswerBeforeTheOpenIsKept_ReclaimedBeforeFirstUse()
    {
        var (connection, peer, tree, server) = await ReplayerTests.ConnectedTreeWithServerAsync();
        await using var _ = connection;
        await using var __ = peer;
        RecoverSessionTreeAndOpens(connection, tree);
        CallPolicy.Enter(new CallPolicy(SmbFailureMode.Hard, TimeSpan.Zero));
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var proceed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tree.CreateAnsweredHook = async () =>
        {
            answered.TrySetResult();
            await proceed.Task;
        };
        var create = tree.CreateAsync(FileRequest("f.bin"), CancellationToken.None, durable: true);
        await peer.ReplyAsync(await peer.ReadRequestAsync(), body: DurableCreateBody(FirstId));

        // The server granted the durable handle; the connection drops before CreateAsync has kept the open, and the
        // whole recovery (session, tree, opens) runs in that window.
        await answered.Task.WaitAsync(Bound);
        peer.Abort();
        await ReplayerTests.TakeReconnectAsync(peer, server, treeId: 6);
        await connection.WaitForReadyAsync(null, CancellationToken.None).WaitAsync(Bound);
        proceed.SetResult();

        // The handle from the lost connection is dead: it must be reclaimed before the caller gets it.
        var next = peer.ReadRequestAsync();
        Assert.True(await Task.WhenAny(create, next) == next,
            $"CreateAsync returned the open with FileId {(create.IsCompletedSuccessfully ? create.Result.FileId : null)} from the lost connection, not reclaimed");
        var reclaim = await next;
        Assert.Equal(Smb2Command.Create, reclaim.Header.Command);
        Assert.Equal(6u, reclaim.Header.TreeId);
        Assert.Equal(FirstId, DurableReconnectFileIdOf(reclaim));
        await peer.ReplyAsync(reclaim, body: DurableCreateBody(ReclaimedId));
        var open = await create.WaitAsync(Bound);
        Assert.Equal(ReclaimedId, open.FileId);
        Assert.Equal(1, open.ReclaimCount);
        Assert.False(open.IsLost);
        Assert.Contains(open, tree.Opens); // and the next recovery reclaims it like any other
    }

    [Fact]
    public async Task DurableCreate_AnsweredAfterTheReconnect_KeptWithoutAReclaim()
    {
        var (connection, peer, tree, server) = await ReplayerTests.ConnectedTreeWithServerAsync();
        await using var _ = connection;
        await using var __ = peer;
        RecoverSessionTreeAndOpens(connection, tree);
        CallPolicy.Enter(new CallPolicy(SmbFailureMode.Hard, TimeSpan.Zero));

        // A recovery before the CREATE goes out does not make its handle stale: no reclaim, the open is kept as is.
        peer.Abort();
        await ReplayerTests.TakeReconnectAsync(peer, server, treeId: 6);
        await connection.WaitForReadyAsync(null, CancellationToken.None).WaitAsync(Bound);
        var create = tree.CreateAsync(FileRequest("f.bin"), CancellationToken.None, durable: true);
        await peer.ReplyAsync(await peer.ReadRequestAsync(), body: DurableCreateBody(FirstId));
        var open = await create.WaitAsync(Bound);
        Assert.Equal(FirstId, open.FileId);
        Assert.Equal(0, open.ReclaimCount);
        Assert.Contains(open, tree.Opens);
    }
}
