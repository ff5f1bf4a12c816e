using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

public class SmbConnectionTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Responses_OutOfOrder_EachWaiterGetsItsOwn()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 10);

        var tasks = Enumerable.Range(0, 3).Select(_ => connection.SendAsync(new TestRequest(), RequestContext.None, default)).ToArray();
        var requests = new List<ReceivedMessage>();
        while (requests.Count < 3)
        {
            requests.AddRange(await peer.ReadFrameAsync());
        }
        foreach (var r in Enumerable.Reverse(requests))
        {
            await peer.ReplyAsync(r);
        }
        var responses = await Task.WhenAll(tasks).WaitAsync(Bound);
        var sentIds = requests.Select(r => r.Header.MessageId).OrderBy(x => x).ToArray();
        Assert.Equal(sentIds, responses.Select(r => r.Header.MessageId).OrderBy(x => x).ToArray());
        // Each task was completed by the response carrying its own MessageId, ids strictly increasing in send order.
        Assert.Equal(3, responses.Select(r => r.Header.MessageId).Distinct().Count());
        Assert.True(responses[0].Header.MessageId < responses[1].Header.MessageId && responses[1].Header.MessageId < responses[2].Header.MessageId);
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task InterimResponse_ThenFinal_CompletesOnlyOnFinal()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var task = connection.SendAsync(new TestRequest(Smb2Command.Read), RequestContext.None, default, priority: true);
        var request = await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(ScriptedPeer.Response(request, NtStatus.Pending, credits: 1, body: [9, 0, 0, 0, 0, 0, 0, 0, 0], asyncId: 0x77));
        await ReaderCaughtUpAsync(connection, peer); // the interim answer has been handled...
        Assert.False(task.IsCompleted); // ...and did not complete the call
        await peer.SendMessagesAsync(ScriptedPeer.Response(request, NtStatus.Success, asyncId: 0x77));
        using var response = await task.WaitAsync(Bound);
        Assert.Equal(NtStatus.Success, response.Status);
        Assert.Equal(0x77UL, response.Header.AsyncId);
    }

    [Fact]
    public async Task Credits_Exhausted_RequestsWaitUntilGranted()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        // Grant 3: with one credit held in reserve, two 1-credit requests can go.
        await peer.GrantCreditsAsync(connection, 3);
        using var meter = new MeterRecorder(connection.Port);

        var tasks = Enumerable.Range(0, 4).Select(_ => connection.SendAsync(new TestRequest(), RequestContext.None, default)).ToArray();
        var seen = new List<ReceivedMessage>();
        while (seen.Count < 2)
        {
            seen.AddRange(await peer.ReadFrameAsync());
        }
        Assert.True(await peer.IsQuietAsync(TimeSpan.FromMilliseconds(300)));
        Assert.All(tasks, t => Assert.False(t.IsCompleted));

        // Answer one, granting 1 credit: exactly one more request may go.
        await peer.ReplyAsync(seen[0], credits: 1);
        seen.AddRange(await peer.ReadFrameAsync());
        Assert.Equal(3, seen.Count);
        Assert.True(await peer.IsQuietAsync(TimeSpan.FromMilliseconds(300)));

        // Now grant plenty: the last one goes; nothing failed for lack of credits.
        await peer.ReplyAsync(seen[1], credits: 10);
        seen.AddRange(await peer.ReadFrameAsync());
        await peer.ReplyAsync(seen[2]);
        await peer.ReplyAsync(seen[3]);
        foreach (var r in await Task.WhenAll(tasks).WaitAsync(Bound))
        {
            Assert.Equal(NtStatus.Success, r.Status);
            r.Dispose();
        }
        // The meter saw the two that waited, and no request went unanswered.
        Assert.Equal(2, meter.Count("smb.client.credit.waits"));
        Assert.Equal(0, meter.Counts.Where(c => c.Key.Instrument == "smb.client.request.unanswered").Sum(c => c.Value));
    }

    [Fact]
    public async Task Credits_TooFewAndNothingInFlight_EchoAsksForMore_RequestGoes()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        // The server granted only 2 credits and nothing is in flight; a 256 KiB READ costs 4. No answer is
        // coming that could grant more, so without help the READ would wait for the idle probe (30 s).
        await peer.GrantCreditsAsync(connection, 2);
        var read = connection.SendAsync(new TestRequest(Smb2Command.Read, payloadSize: 256 * 1024), RequestContext.None, default);

        var echo = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Echo, echo.Header.Command);
        Assert.True(echo.Header.Credits >= 4, $"the ECHO asks for enough credits ({echo.Header.Credits})");
        await peer.ReplyAsync(echo, credits: 10);

        var request = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Read, request.Header.Command);
        Assert.Equal(4, request.Header.CreditCharge);
        await peer.ReplyAsync(request, credits: 4);
        (await read.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task LargeMtuRequest_ChargesCreditsAndConsumesMessageIds()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 40);

        var big = connection.SendAsync(new TestRequest(Smb2Command.Read, payloadSize: 1024 * 1024), RequestContext.None, default);
        var r1 = await peer.ReadRequestAsync();
        Assert.Equal(16, r1.Header.CreditCharge);
        var small = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        var r2 = await peer.ReadRequestAsync();
        Assert.Equal(r1.Header.MessageId + 16, r2.Header.MessageId);
        await peer.ReplyAsync(r1, credits: 16);
        await peer.ReplyAsync(r2);
        (await big.WaitAsync(Bound)).Dispose();
        (await small.WaitAsync(Bound)).Dispose();
    }

    /// <summary>
    /// Returns once the connection's reader has handled every frame the peer sent before this: the reader handles frames in
    /// order, and hands a server-initiated message (here an oplock break) to the registered handlers only as it handles it.
    /// Registers a handler for good: for tests that send no server-initiated messages of their own.
    /// </summary>
    internal static async Task ReaderCaughtUpAsync(SmbConnection connection, ScriptedPeer peer)
    {
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.RegisterServerMessageHandler(_ => delivered.TrySetResult());
        var notification = new ReceivedMessage(new Smb2Header { Command = Smb2Command.OplockBreak }, new byte[64]);
        await peer.SendMessagesAsync(ScriptedPeer.Response(notification, credits: 0, body: new byte[24], messageId: ulong.MaxValue));
        await delivered.Task.WaitAsync(Bound);
    }

    internal static async Task WaitForStateAsync(SmbConnection connection, ConnectionState state)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (connection.State != state && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }
        Assert.Equal(state, connection.State);
    }

    /// <summary>An answer is its request's only when it names that request's command (MS-SMB2 §3.2.5.1).</summary>
    [Fact]
    public async Task Response_ForAnotherCommand_IsProtocolError()
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

    [Fact]
    public async Task Response_BadSignature_IsProtocolError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        var context = new RequestContext { SessionId = 5, Signer = signer };
        var task = connection.SendAsync(new TestRequest(), context, default, priority: true);
        var request = await peer.ReadRequestAsync();
        Assert.True(request.Header.IsSigned);
        Assert.True(signer.Verify(request.Message));

        var response = ScriptedPeer.Response(request, flags: Smb2HeaderFlags.Signed);
        signer.Sign(response);
        response[^1] ^= 0x01; // tamper after signing
        await peer.SendMessagesAsync(response);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.Contains("signature", error.Message, StringComparison.OrdinalIgnoreCase);
        // The request fails first with the protocol error; the link is torn down right after.
        await WaitForStateAsync(connection, ConnectionState.Closed);
    }

    [Fact]
    public async Task Response_GoodSignature_Accepted_UnsignedRejected()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var signer = new FakeSigner();
        var context = new RequestContext { SessionId = 5, Signer = signer };
        var ok = connection.SendAsync(new TestRequest(), context, default, priority: true);
        var request = await peer.ReadRequestAsync();
        var response = ScriptedPeer.Response(request, credits: 5);
        signer.Sign(response);
        await peer.SendMessagesAsync(response);
        (await ok.WaitAsync(Bound)).Dispose();

        var unsigned = connection.SendAsync(new TestRequest(), context, default);
        await peer.ReplyAsync(await peer.ReadRequestAsync());
        await Assert.ThrowsAsync<SmbProtocolException>(() => unsigned.WaitAsync(Bound));
    }

    public static TheoryData<string, byte[]> BadFrames()
    {
        var data = new TheoryData<string, byte[]>();
        data.Add("short frame", [0, 0, 0, 8, 0xFE, (byte)'S', (byte)'M', (byte)'B', 0, 0, 0, 0]);
        data.Add("oversized length", [0, 0xFF, 0xFF, 0xFF]);
        data.Add("non-zero first byte", [0x85, 0, 0, 0]);
        data.Add("zero length", [0, 0, 0, 0]);
        var garbled = new byte[4 + 80];
        BinaryPrimitives.WriteUInt32BigEndian(garbled, 80);
        garbled.AsSpan(4).Fill(0x41);
        data.Add("garbled protocol id", garbled);
        var badHeader = new byte[4 + 80];
        BinaryPrimitives.WriteUInt32BigEndian(badHeader, 80);
        new Smb2Header { Command = Smb2Command.Echo, Flags = Smb2HeaderFlags.ServerToRedir }.WriteTo(badHeader.AsSpan(4));
        badHeader[4 + 4] = 7; // StructureSize 7
        data.Add("bad header size", badHeader);
        var badChain = new byte[4 + 80];
        BinaryPrimitives.WriteUInt32BigEndian(badChain, 80);
        new Smb2Header { Command = Smb2Command.Echo, Flags = Smb2HeaderFlags.ServerToRedir, NextCommand = 12345 }.WriteTo(badChain.AsSpan(4));
        data.Add("NextCommand past the frame", badChain);
        var request = new byte[4 + 68];
        BinaryPrimitives.WriteUInt32BigEndian(request, 68);
        new Smb2Header { Command = Smb2Command.Echo }.WriteTo(request.AsSpan(4));
        data.Add("a request instead of a response", request);
        var unknownId = new byte[4 + 68];
        BinaryPrimitives.WriteUInt32BigEndian(unknownId, 68);
        new Smb2Header { Command = Smb2Command.Echo, Flags = Smb2HeaderFlags.ServerToRedir, MessageId = 999 }.WriteTo(unknownId.AsSpan(4));
        data.Add("unknown MessageId", unknownId);
        var transform = new byte[4 + 80];
        BinaryPrimitives.WriteUInt32BigEndian(transform, 80);
        transform[4] = 0xFD; transform[5] = (byte)'S'; transform[6] = (byte)'M'; transform[7] = (byte)'B';
        data.Add("unexpected transform header", transform);
        return data;
    }

    [Theory]
    [MemberData(nameof(BadFrames))]
    public async Task MalformedFrame_FailsWithProtocolError_NoHang(string name, byte[] frame)
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { MaxFrameLength = 1024 * 1024 });
        await using var _ = connection;
        await using var __ = peer;
        var task = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReadRequestAsync();
        await peer.SendRawAsync(frame);
        var error = await Assert.ThrowsAsync<SmbProtocolException>(() => task.WaitAsync(Bound));
        Assert.False(string.IsNullOrEmpty(error.Message), name);
        await WaitForStateAsync(connection, ConnectionState.Closed);
        // Later calls fail at once with a connection error instead of hanging.
        await Assert.ThrowsAsync<SmbConnectionException>(() => connection.SendAsync(new TestRequest(), RequestContext.None, default).WaitAsync(Bound));
    }

    [Fact]
    public async Task TruncatedFrame_ThenClose_IsConnectionError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        var task = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReadRequestAsync();
        await peer.SendRawAsync([0, 0, 1, 0, 0xFE, (byte)'S']);
        await peer.DisposeAsync();
        await Assert.ThrowsAsync<SmbConnectionException>(() => task.WaitAsync(Bound));
    }

    [Fact]
    public async Task ServerReset_FailsInFlightRequests_WithConnectionError()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var task = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        await peer.ReadRequestAsync();
        peer.Abort();
        var error = await Assert.ThrowsAsync<SmbConnectionException>(() => task.WaitAsync(Bound));
        Assert.DoesNotContain("STATUS_", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_WhileWaitingForCredits_NothingGoesOnTheWire()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        // The single initial credit goes to a request the peer leaves unanswered: balance 0.
        var first = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        var firstRequest = await peer.ReadRequestAsync();
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(), RequestContext.None, cts.Token);
        await Task.Delay(100);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Bound));
        Assert.True(await peer.IsQuietAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Equal(1, connection.InFlightCount);
        await peer.ReplyAsync(firstRequest);
        (await first.WaitAsync(Bound)).Dispose();
    }

    [Fact]
    public async Task LastCredit_KeptForEcho_OnlyWhileOthersAreInFlight()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        // Nothing in flight and one credit (as after Samba's NEGOTIATE): a normal request may use it.
        var first = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        await peer.ReplyAsync(await peer.ReadRequestAsync(), credits: 2);
        (await first.WaitAsync(Bound)).Dispose();

        // Balance 2: one normal request goes; the last credit is held back from the next normal one...
        var a = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        var ra = await peer.ReadRequestAsync();
        var b = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        Assert.True(await peer.IsQuietAsync(TimeSpan.FromMilliseconds(300)));
        // ...but an ECHO (priority) may take it.
        var echo = connection.SendAsync(new TestRequest(), RequestContext.None, default, priority: true);
        var rEcho = await peer.ReadRequestAsync();
        await peer.ReplyAsync(rEcho);
        await peer.ReplyAsync(ra, credits: 2);
        var rb = await peer.ReadRequestAsync();
        await peer.ReplyAsync(rb);
        foreach (var t in new[] { a, b, echo })
        {
            (await t.WaitAsync(Bound)).Dispose();
        }
    }

    [Fact]
    public async Task Cancel_AfterSend_SendsCancelByMessageId_StatusCancelledIsCancellation()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.Read), RequestContext.None, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        cts.Cancel();
        var cancel = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
        Assert.Equal(request.Header.MessageId, cancel.Header.MessageId);
        Assert.Equal(0, cancel.Header.Credits);
        await peer.ReplyAsync(request, NtStatus.Cancelled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Bound));
    }

    [Fact]
    public async Task Cancel_AfterInterim_UsesAsyncId()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.ChangeNotify), RequestContext.None, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        await peer.SendMessagesAsync(ScriptedPeer.Response(request, NtStatus.Pending, body: [9, 0, 0, 0, 0, 0, 0, 0, 0], asyncId: 0x1234));
        await ReaderCaughtUpAsync(connection, peer); // the AsyncId is known before the caller cancels
        cts.Cancel();
        var cancel = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
        Assert.True(cancel.Header.IsAsync);
        Assert.Equal(0x1234UL, cancel.Header.AsyncId);
        await peer.SendMessagesAsync(ScriptedPeer.Response(request, NtStatus.Cancelled, asyncId: 0x1234));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Bound));
    }

    [Fact]
    public async Task Cancel_LateSuccessWithinGrace_IsHonoured()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.Create), RequestContext.None, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        cts.Cancel();
        await peer.ReadRequestAsync(); // the CANCEL
        await peer.ReplyAsync(request, NtStatus.Success, body: ScriptedPeer.CreateBody());
        using var response = await task.WaitAsync(Bound);
        Assert.Equal(NtStatus.Success, response.Status);
    }

    [Fact]
    public async Task Cancel_SuccessAfterGrace_IsCompensated()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { CancelGrace = TimeSpan.FromMilliseconds(200) });
        await using var _ = connection;
        await using var __ = peer;
        var compensated = new TaskCompletionSource<ulong>(TaskCreationOptions.RunContinuationsAsynchronously);
        var context = new RequestContext { OnAbandonedResponse = r => compensated.TrySetResult(r.Header.MessageId) };
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.Create), context, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        cts.Cancel();
        await peer.ReadRequestAsync(); // the CANCEL
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => task.WaitAsync(Bound));
        await peer.ReplyAsync(request, NtStatus.Success, body: ScriptedPeer.CreateBody());
        Assert.Equal(request.Header.MessageId, await compensated.Task.WaitAsync(Bound));
    }

    [Fact]
    public async Task ServerError_AfterCancel_IsNotReportedAsCancellation()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        using var cts = new CancellationTokenSource();
        var task = connection.SendAsync(new TestRequest(Smb2Command.Create), RequestContext.None, cts.Token, priority: true);
        var request = await peer.ReadRequestAsync();
        cts.Cancel();
        await peer.ReadRequestAsync();
        await peer.ReplyAsync(request, NtStatus.AccessDenied, body: [9, 0, 0, 0, 0, 0, 0, 0, 0]);
        using var response = await task.WaitAsync(Bound);
        Assert.Equal(NtStatus.AccessDenied, response.Status);
    }

    [Fact]
    public async Task RequestTimeout_FailsWithBreadcrumbs()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var context = new RequestContext { Timeout = TimeSpan.FromMilliseconds(300) };
        var task = connection.SendAsync(new TestRequest(), context, default, priority: true);
        await peer.ReadRequestAsync();
        var error = await Assert.ThrowsAsync<SmbTimeoutException>(() => task.WaitAsync(Bound));
        Assert.Contains("in flight", error.Message, StringComparison.Ordinal);
        Assert.Contains("last byte", error.Message, StringComparison.Ordinal);
        var cancel = await peer.ReadRequestAsync();
        Assert.Equal(Smb2Command.Cancel, cancel.Header.Command);
    }

    [Fact]
    public async Task OplockBreakNotification_DeliveredToHandler()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var delivered = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.RegisterServerMessageHandler(m => delivered.TrySetResult(m.Message.ToArray()));
        var fake = new ReceivedMessage(new Smb2Header { Command = Smb2Command.OplockBreak }, new byte[64]);
        await peer.SendMessagesAsync(ScriptedPeer.Response(fake, credits: 0, body: new byte[24], messageId: ulong.MaxValue));
        var message = await delivered.Task.WaitAsync(Bound);
        Assert.Equal(Smb2Command.OplockBreak, Smb2Header.ReadFrom(message).Command);
    }

    [Fact]
    public async Task Compound_SentAsOneFrame_ResponsesMatched()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 10);

        var tasks = connection.SendCompound([new TestRequest(Smb2Command.Create), new TestRequest(Smb2Command.QueryInfo), new TestRequest(Smb2Command.Close)],
            new RequestContext { SessionId = 9, TreeId = 3 }, related: true, default);
        var messages = await peer.ReadFrameAsync();
        Assert.Equal(3, messages.Count);
        Assert.Equal(0, messages[0].Message.Length % 8);
        Assert.False(messages[0].Header.Flags.HasFlag(Smb2HeaderFlags.RelatedOperations));
        Assert.True(messages[1].Header.Flags.HasFlag(Smb2HeaderFlags.RelatedOperations));
        Assert.Equal([Smb2Command.Create, Smb2Command.QueryInfo, Smb2Command.Close], messages.Select(m => m.Header.Command).ToArray());

        // Answer as a compound too (8-byte padded members).
        var replies = messages.Select((m, i) =>
        {
            var r = ScriptedPeer.Response(m, body: m.Header.Command == Smb2Command.Create ? ScriptedPeer.CreateBody() : [4, 0, 0, 0]);
            if (i < messages.Count - 1)
            {
                Array.Resize(ref r, (r.Length + 7) & ~7);
                Smb2Header.WriteNextCommand(r, (uint)r.Length);
            }
            return r;
        }).ToArray();
        await peer.SendMessagesAsync(replies);
        var responses = await Task.WhenAll(tasks).WaitAsync(Bound);
        Assert.Equal(messages.Select(m => m.Header.MessageId), responses.Select(r => r.Header.MessageId));
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    [Fact]
    public async Task ManyConcurrentRequests_AllCompleteCorrectly()
    {
        var (connection, peer) = await ScriptedPeer.StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        await peer.GrantCreditsAsync(connection, 100);

        const int count = 200;
        var tasks = Enumerable.Range(0, count).Select(_ => connection.SendAsync(new TestRequest(), RequestContext.None, default)).ToArray();
        var server = Task.Run(async () =>
        {
            var seen = 0;
            var answered = 0;
            var rng = new Random(42);
            var backlog = new List<ReceivedMessage>();
            while (seen < count)
            {
                backlog.AddRange(await peer.ReadFrameAsync());
                seen = backlog.Count + answered;
                // Answer a random half of what is waiting, shuffled.
                var pick = backlog.OrderBy(_ => rng.Next()).Take(Math.Max(1, backlog.Count / 2)).ToList();
                foreach (var m in pick)
                {
                    await peer.ReplyAsync(m, credits: 1);
                    backlog.Remove(m);
                    answered++;
                }
                seen = backlog.Count + answered;
            }
            foreach (var m in backlog)
            {
                await peer.ReplyAsync(m, credits: 1);
            }
        });
        var responses = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
        await server.WaitAsync(Bound);
        Assert.Equal(count, responses.Select(r => r.Header.MessageId).Distinct().Count());
        foreach (var r in responses)
        {
            r.Dispose();
        }
    }

    private static readonly AsyncLocal<object?> ConnectingCallersState = new();

    /// <summary>
    /// Opens the connection while the calling async flow holds a value, as an ASP.NET request's context or a logging
    /// scope would. Being an async method, it takes the value out of its caller's flow again when it returns.
    /// </summary>
    private static async Task ConnectInCallersFlowAsync(SmbConnection connection, object state)
    {
        ConnectingCallersState.Value = state;
        await connection.ConnectAsync(CancellationToken.None);
    }

    /// <summary>
    /// The promise of <c>SmbConnection.RunInBackground</c>: the reader, writer and timer loops live as long as the
    /// connection, and started with the connecting caller's execution context they would keep every AsyncLocal value of
    /// that call (a request's context, a logging scope, a trace span) alive and current for that long. Asserted directly,
    /// not through garbage collection: what <see cref="ConnectingCallersState"/> reads in code the loops themselves run
    /// (the library's measurements, which a <see cref="System.Diagnostics.Metrics.MeterListener"/> receives synchronously
    /// on the recording thread). The peer and the test's own requests run outside the value's flow and cannot matter.
    /// </summary>
    [Fact]
    public async Task BackgroundLoops_DoNotKeepTheConnectingCallersAsyncState()
    {
        using var probe = new FlowProbe();
        var state = new object();
        var (connection, peer) = await ScriptedPeer.StartAsync(new ConnectionSettings { LoggerFactory = probe }, connect: c =>
        {
            probe.Watch(c.Port);
            return ConnectInCallersFlowAsync(c, state);
        });
        await using var _ = connection;
        await using var __ = peer;
        Assert.Null(ConnectingCallersState.Value);
        // Control: what the library does in the connecting call's own flow (its state-change log lines) sees the value,
        // so the probe would see it on the loops too if they ran in that flow.
        Assert.Contains(probe.Logged, l => l.Event == "StateChanged" && ReferenceEquals(l.State, state));

        // Writer (the request's frame) and reader (the answer's frame): both measured before the answer completes the call.
        var echo = connection.SendAsync(new TestRequest(), RequestContext.None, default);
        await peer.ReplyAsync(await peer.ReadRequestAsync());
        (await echo.WaitAsync(Bound)).Dispose();
        // Timer loop: a request left unanswered expires there (measured just after its caller sees the timeout).
        var expiring = connection.SendAsync(new TestRequest(), new RequestContext { Timeout = TimeSpan.FromMilliseconds(100) }, default);
        await peer.ReadRequestAsync();
        await Assert.ThrowsAsync<SmbTimeoutException>(() => expiring.WaitAsync(Bound));
        await Task.WhenAll(probe.Seen(FlowProbe.Reader), probe.Seen(FlowProbe.Writer), probe.Seen(FlowProbe.Timer)).WaitAsync(Bound);

        var capturing = probe.Measured.Where(m => m.State is not null).Select(m => m.Loop).Distinct().Order().ToArray();
        Assert.True(capturing.Length == 0,
            $"the connection's background loops ({string.Join(", ", capturing)}) run in the connecting caller's execution context and keep its async state alive");
    }

    /// <summary>
    /// Records what <see cref="ConnectingCallersState"/> reads where the library runs code: in its measurements for one
    /// server port, each attributed to the one loop that takes it, and in its log calls, whichever flow makes them.
    /// </summary>
    private sealed class FlowProbe : ILoggerFactory, ILogger
    {
        public const string Reader = "reader", Writer = "writer", Timer = "timer";

        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly Dictionary<string, TaskCompletionSource> _seen = new()
        {
            [Reader] = new(TaskCreationOptions.RunContinuationsAsynchronously),
            [Writer] = new(TaskCreationOptions.RunContinuationsAsynchronously),
            [Timer] = new(TaskCreationOptions.RunContinuationsAsynchronously),
        };
        private int _port = -1;

        public FlowProbe()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == SmbTelemetry.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) => OnMeasurement(instrument.Name, tags));
            _listener.Start();
        }

        /// <summary>(loop, value read there) for each measurement one of the connection's loops took.</summary>
        public ConcurrentQueue<(string Loop, object? State)> Measured { get; } = new();

        /// <summary>(event name, value read there) for each line the connection logged.</summary>
        public ConcurrentQueue<(string? Event, object? State)> Logged { get; } = new();

        /// <summary>Measurements count from now on when they carry <paramref name="port"/> (listeners are process-wide).</summary>
        public void Watch(int port) => Volatile.Write(ref _port, port);

        /// <summary>Completes once <paramref name="loop"/> has taken a measurement.</summary>
        public Task Seen(string loop) => _seen[loop].Task;

        private void OnMeasurement(string instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Read first: this runs synchronously in the flow that records.
            var state = ConnectingCallersState.Value;
            object? port = null, direction = null, reason = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "server.port": port = tag.Value; break;
                    case "network.io.direction": direction = tag.Value; break;
                    case "smb.reason": reason = tag.Value; break;
                }
            }
            if (!Equals(port, Volatile.Read(ref _port)))
            {
                return;
            }
            // Frames are counted by the reader (received) and the writer (sent) as they handle them; only the timer loop
            // finds requests past their deadline.
            var loop = (instrument, direction, reason) switch
            {
                ("smb.client.network.io", "receive", _) => Reader,
                ("smb.client.network.io", "transmit", _) => Writer,
                ("smb.client.request.unanswered", _, "timeout") => Timer,
                _ => null,
            };
            if (loop is not null)
            {
                Measured.Enqueue((loop, state));
                _seen[loop].TrySetResult();
            }
        }

        ILogger ILoggerFactory.CreateLogger(string categoryName) => this;

        void ILoggerFactory.AddProvider(ILoggerProvider provider)
        {
        }

        IDisposable? ILogger.BeginScope<TState>(TState state) => null;

        bool ILogger.IsEnabled(LogLevel logLevel) => true;

        void ILogger.Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Logged.Enqueue((eventId.Name, ConnectingCallersState.Value));

        public void Dispose() => _listener.Dispose();
    }
}
