using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using SmbLayer.Protocol;
using SmbLayer.Transport;

namespace SmbLayer.Tests.Transport;

/// <summary>
/// The reader's splice path (READ data from the socket straight into a file) against a scripted
/// peer: exact frame shapes and arrival patterns that Samba on loopback rarely produces.
/// </summary>
public sealed class FileSinkTests : IDisposable
{
    private const int DataOffset = ReadResponse.PrefixSize; // 80: data right after the fixed body
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"smblayer-sink-{Guid.NewGuid():N}.bin");
    private readonly FileStream _file;

    public FileSinkTests() =>
        _file = new FileStream(_path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, bufferSize: 1);

    public void Dispose()
    {
        _file.Dispose();
        File.Delete(_path);
    }

    private static byte[] ReadBody(int dataLength, byte dataOffset = DataOffset)
    {
        var body = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(body, ReadResponse.StructureSizeValue);
        body[2] = dataOffset;
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), (uint)dataLength);
        return body;
    }

    /// <summary>A whole READ response frame: 4-byte length, header, fixed body, data.</summary>
    private static byte[] ReadResponseFrame(ReceivedMessage request, byte[] data, ushort credits = 8)
    {
        var message = ScriptedPeer.Response(request, credits: credits, body: [.. ReadBody(data.Length), .. data]);
        var frame = new byte[4 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)message.Length);
        message.CopyTo(frame, 4);
        return frame;
    }

    private SafeFileHandle Handle => _file.SafeFileHandle;

    /// <summary>A ready connection to a scripted peer, with credits enough for READs of a few hundred KiB.</summary>
    private static async Task<(SmbConnection Connection, ScriptedPeer Peer)> StartAsync(ConnectionSettings? settings = null)
    {
        var (connection, peer) = await ScriptedPeer.StartAsync(settings);
        await peer.GrantCreditsAsync(connection, 32);
        return (connection, peer);
    }

    [Fact]
    public async Task Read_WithSink_ResponseTrickles_DataLandsInTheFile_HeaderAloneDelivered()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // splice is Linux only; elsewhere the sink is never used
        }
        var (connection, peer) = await StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var data = RandomNumberGenerator.GetBytes(300 * 1024 + 5);
        var sink = new FileSink(Handle, fileOffset: 1000, capacity: data.Length);
        var call = connection.SendAsync(new ReadRequest(default, 0, data.Length), new RequestContext { Sink = sink }, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        var frame = ReadResponseFrame(request, data);
        // In pieces with pauses: the reader stages the header, then waits on the socket between splices.
        var cuts = new[] { 3, 40, 90, 70_000, 200_000, frame.Length };
        var at = 0;
        foreach (var cut in cuts)
        {
            await peer.SendRawAsync(frame[at..cut]);
            at = cut;
            await Task.Delay(30);
        }
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(NtStatus.Success, response.Status);
        Assert.True(sink.Delivered);
        Assert.Null(sink.WriteError);
        Assert.Equal(data.Length, sink.Length);
        Assert.Equal(DataOffset, response.Message.Length); // header and fixed body only
        Assert.Equal(data.Length, connection.BytesReadIntoFiles);
        // The reader goes back to reading frames in large pieces once no such request is out.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (connection.SinkRequestsInFlight != 0 && waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }
        Assert.Equal(0, connection.SinkRequestsInFlight);
        var back = await File.ReadAllBytesAsync(_path);
        Assert.Equal(1000 + data.Length, back.Length);
        Assert.True(back.AsSpan(1000).SequenceEqual(data));
        Assert.All(back[..1000], b => Assert.Equal(0, b)); // nothing before the sink's offset

        // The connection goes on: the next message, right behind, is read as usual.
        var echo = connection.SendAsync(new EchoRequest(), RequestContext.None, CancellationToken.None);
        await peer.ReplyAsync(await peer.ReadRequestAsync());
        using var echoed = await echo.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(NtStatus.Success, echoed.Status);
    }

    [Fact]
    public async Task Read_WithSink_SlowLocalDisk_NotTakenForADeadServer()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // splice is Linux only; elsewhere the sink is never used
        }
        // Liveness that would call the server dead after ~3 s of silence with an ECHO unanswered; the local
        // "disk" then takes 4.5 s for one write, during which the reader receives nothing. (With 0.3 s + 0.6 s the
        // test failed by chance on a loaded machine: the peer itself took that long to send its answer.)
        var settings = new ConnectionSettings { ProbeDelay = TimeSpan.FromSeconds(1), EchoTimeout = TimeSpan.FromSeconds(2) };
        var (connection, peer) = await StartAsync(settings);
        await using var _ = connection;
        await using var __ = peer;
        var data = RandomNumberGenerator.GetBytes(300 * 1024);
        var slow = 0;
        var sink = new FileSink(Handle, fileOffset: 0, capacity: data.Length)
        {
            OnWrite = () =>
            {
                if (Interlocked.Exchange(ref slow, 1) == 0)
                {
                    Thread.Sleep(4500);
                }
            },
        };
        var call = connection.SendAsync(new ReadRequest(default, 0, data.Length), new RequestContext { Sink = sink }, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        await peer.SendRawAsync(ReadResponseFrame(request, data));
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(sink.Delivered);
        Assert.Equal(1, slow);
        Assert.Equal(ConnectionState.Ready, connection.State);
        Assert.True((await File.ReadAllBytesAsync(_path)).AsSpan().SequenceEqual(data));
    }

    [Fact]
    public async Task Read_WithDetachedSink_DataComesBackInTheResponse_FileUntouched()
    {
        var (connection, peer) = await StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var data = RandomNumberGenerator.GetBytes(200 * 1024);
        var sink = new FileSink(Handle, fileOffset: 0, capacity: data.Length);
        sink.Detach();
        var call = connection.SendAsync(new ReadRequest(default, 0, data.Length), new RequestContext { Sink = sink }, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        await peer.SendRawAsync(ReadResponseFrame(request, data));
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(sink.Delivered);
        var parsed = ReadResponse.Parse(response.Message);
        Assert.True(response.Message.Slice(parsed.DataOffset, parsed.DataLength).SequenceEqual(data));
        Assert.Equal(0, new FileInfo(_path).Length);
        Assert.Equal(0, connection.BytesReadIntoFiles);
    }

    [Fact]
    public async Task Read_WithSink_AnswerLongerThanAsked_NotSpliced_RejectedByTheUsualChecks()
    {
        var (connection, peer) = await StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var data = RandomNumberGenerator.GetBytes(200 * 1024);
        var sink = new FileSink(Handle, fileOffset: 0, capacity: data.Length - 1); // the server sends one byte more than asked
        var call = connection.SendAsync(new ReadRequest(default, 0, data.Length - 1), new RequestContext { Sink = sink }, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        await peer.SendRawAsync(ReadResponseFrame(request, data));
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(sink.Delivered);
        Assert.Equal(0, new FileInfo(_path).Length);
        // The session layer's check of a whole response refuses it.
        Assert.Throws<SmbProtocolException>(() => SmbLayer.Session.SmbOpen.ToReadData(response, data.Length - 1, "test", sink));
    }

    [Fact]
    public async Task Read_WithSink_ServerClosesMidData_ConnectionError_RequestFails()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // splice is Linux only; elsewhere the sink is never used
        }
        var (connection, peer) = await StartAsync();
        await using var _ = connection;
        await using var __ = peer;
        var data = RandomNumberGenerator.GetBytes(300 * 1024);
        var sink = new FileSink(Handle, fileOffset: 0, capacity: data.Length);
        var call = connection.SendAsync(new ReadRequest(default, 0, data.Length), new RequestContext { Sink = sink }, CancellationToken.None);
        var request = await peer.ReadRequestAsync();
        var frame = ReadResponseFrame(request, data);
        await peer.SendRawAsync(frame[..150_000]);
        await Task.Delay(50);
        peer.Abort();
        await Assert.ThrowsAnyAsync<SmbConnectionException>(() => call.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(sink.Delivered);
    }

    [Theory]
    [InlineData(80, 1000, 1080, true)] // data right after the fixed body, to the end
    [InlineData(88, 1000, 1088, true)] // padding before the data is fine when staged
    [InlineData(80, 1000, 1081, false)] // bytes after the data: not a plain layout
    [InlineData(80, 0, 80, false)] // no data
    [InlineData(64, 1000, 1064, false)] // data offset inside the body
    [InlineData(200, 1000, 1200, false)] // data start not staged yet
    public void TryGetDataLayout_OnlyPlainLayouts(byte dataOffset, int dataLength, int messageLength, bool expected)
    {
        var prefix = new byte[128];
        new Smb2Header { Command = Smb2Command.Read, Flags = Smb2HeaderFlags.ServerToRedir }.WriteTo(prefix);
        ReadBody(dataLength, dataOffset).CopyTo(prefix, Smb2Header.Size);
        Assert.Equal(expected, ReadResponse.TryGetDataLayout(prefix, messageLength, out var offset, out var length));
        if (expected)
        {
            Assert.Equal(dataOffset, offset);
            Assert.Equal(dataLength, length);
        }
    }

    [Theory]
    [InlineData((ushort)Smb2Command.Read, NtStatus.Success, 0u, true)]
    [InlineData((ushort)Smb2Command.Read, NtStatus.BufferOverflow, 0u, false)] // any status but success is read whole
    [InlineData((ushort)Smb2Command.Write, NtStatus.Success, 0u, false)]
    [InlineData((ushort)Smb2Command.Read, NtStatus.Success, 1088u, false)] // a compound member
    public void TryGetBulkData_OnlyALoneSuccessfulRead(ushort commandCode, NtStatus status, uint nextCommand, bool expected)
    {
        var command = (Smb2Command)commandCode;
        var prefix = new byte[ReadResponse.PrefixSize];
        new Smb2Header { Command = command, Status = (uint)status, Flags = Smb2HeaderFlags.ServerToRedir, NextCommand = nextCommand, MessageId = 7 }.WriteTo(prefix);
        ReadBody(1000).CopyTo(prefix, Smb2Header.Size);
        Assert.Equal(expected, Smb2MessageFamily.Instance.TryGetBulkData(prefix, ReadResponse.PrefixSize + 1000, out var messageId, out _, out _));
        if (expected)
        {
            Assert.Equal(7ul, messageId);
        }
    }
}
