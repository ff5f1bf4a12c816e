using System.Buffers.Binary;
using System.Text;
using SmbLayer.Protocol;
using SmbLayer.Protocol.Rpc;

namespace SmbLayer.Tests.Protocol;

/// <summary>
/// DCE/RPC over a pipe and srvsvc NetrShareEnum: Samba's real answers, and every count, pointer, string and fragment of a
/// hostile one refused with a typed error before anything is allocated for it.
/// </summary>
public class SrvsvcCodecTests
{
    private static byte[] Output(string hex)
    {
        var message = SambaCapture.Bytes(hex);
        return message[IoctlResponse.Parse(message).OutputRange];
    }

    [Fact]
    public void SambaCapture_BindAck_Accepted()
    {
        DceRpc.CheckBindAck(Output(SambaCapture.SrvsvcBindAckHex), 1, "bind");
        Assert.Throws<SmbProtocolException>(() => DceRpc.CheckBindAck(Output(SambaCapture.SrvsvcBindAckHex), 7, "bind"));
    }

    [Fact]
    public void SambaCapture_ShareEnum_TheSharesSmbclientShows()
    {
        var answer = new DceRpc.ResponseAssembler(2, 1 << 20, "enum");
        answer.Add(Output(SambaCapture.SrvsvcShareEnumHex));
        Assert.True(answer.Complete);
        var page = Srvsvc.DecodeShareEnum(answer.Stub);
        Assert.Equal(0u, page.Error);
        Assert.Equal(2u, page.TotalEntries);
        Assert.Equal([("share", SmbShareType.Disk, ""), ("IPC$", SmbShareType.Ipc, "IPC Service (Samba 4.17.12-Debian)")],
            page.Shares.Select(s => (s.Name, s.Type, s.Comment)));
        Assert.True(page.Shares[1].IsSpecial);
    }

    [Fact]
    public void Request_IsWhatSambaDecodedAsNetShareEnumAll()
    {
        // The request our client sent in that capture (Wireshark and Samba read it as NetShareEnumAll, level 1).
        var stub = Srvsvc.EncodeShareEnum("127.0.0.1", 0);
        var ndr = new NdrReader(stub, "request");
        Assert.NotEqual(0u, ndr.Pointer("server"));
        Assert.Equal(@"\\127.0.0.1", ndr.ConformantVaryingString("server", 100));
        Assert.Equal(1u, ndr.U32("level"));
        Assert.Equal(1u, ndr.U32("switch"));
        Assert.NotEqual(0u, ndr.Pointer("ctr1"));
        Assert.Equal(0u, ndr.U32("count"));
        Assert.Equal(0u, ndr.Pointer("array"));
        Assert.Equal(uint.MaxValue, ndr.U32("max"));
        Assert.NotEqual(0u, ndr.Pointer("resume"));
        Assert.Equal(0u, ndr.U32("resume value"));
        Assert.Equal(0, ndr.Remaining);
    }

    /// <summary>A NetrShareEnum answer stub built field by field.</summary>
    private sealed class Stub
    {
        private readonly List<byte> _b = [];

        public Stub U32(uint v)
        {
            while (_b.Count % 4 != 0)
            {
                _b.Add(0);
            }
            var x = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(x, v);
            _b.AddRange(x);
            return this;
        }

        public Stub Str(string s, uint? max = null, uint offset = 0, uint? actual = null)
        {
            var chars = s + "\0";
            U32(max ?? (uint)chars.Length).U32(offset).U32(actual ?? (uint)chars.Length);
            _b.AddRange(Encoding.Unicode.GetBytes(chars));
            return this;
        }

        public byte[] Bytes => [.. _b];
    }

    private static Stub Page(params (string Name, uint Type, string? Remark)[] shares)
    {
        var stub = new Stub().U32(1).U32(1).U32(0x20000).U32((uint)shares.Length).U32(0x20004).U32((uint)shares.Length);
        var id = 0x20008u;
        foreach (var (_, type, remark) in shares)
        {
            stub.U32(id += 4).U32(type).U32(remark is null ? 0 : id += 4);
        }
        foreach (var (name, _, remark) in shares)
        {
            stub.Str(name);
            if (remark is not null)
            {
                stub.Str(remark);
            }
        }
        return stub;
    }

    [Fact]
    public void HandBuilt_NullRemark_AndResumeHandle()
    {
        var page = Srvsvc.DecodeShareEnum(Page(("a", 0, null), ("b", 1, "printer")).U32(2).U32(0x30000).U32(77).U32(Srvsvc.ErrorMoreData).Bytes);
        Assert.Equal([("a", ""), ("b", "printer")], page.Shares.Select(s => (s.Name, s.Comment)));
        Assert.Equal(SmbShareType.PrintQueue, page.Shares[1].Type);
        Assert.Equal(77u, page.ResumeHandle);
        Assert.Equal(Srvsvc.ErrorMoreData, page.Error);
    }

    public static TheoryData<string, byte[]> HostileStubs => new()
    {
        { "huge EntriesRead", new Stub().U32(1).U32(1).U32(0x20000).U32(0x7FFFFFFF).U32(0x20004).U32(0x7FFFFFFF).Bytes },
        { "array count unlike EntriesRead", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(2).Bytes },
        { "entries past the buffer", new Stub().U32(1).U32(1).U32(0x20000).U32(1000).U32(0x20004).U32(1000).Bytes },
        { "null buffer with entries", new Stub().U32(1).U32(1).U32(0x20000).U32(3).U32(0).Bytes },
        { "level 2", new Stub().U32(2).U32(2).U32(0).U32(0).U32(0).U32(0).Bytes },
        { "string past the buffer", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(1).U32(0x20010).U32(0).U32(0).Str("x", max: 4000, actual: 4000).Bytes },
        { "string actual over max", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(1).U32(0x20010).U32(0).U32(0).Str("x", max: 1, actual: 2).Bytes },
        { "string with an offset", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(1).U32(0x20010).U32(0).U32(0).Str("x", offset: 1).Bytes },
        { "string too long", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(1).U32(0x20010).U32(0).U32(0).Str(new string('x', 5000)).Bytes },
        { "null name", new Stub().U32(1).U32(1).U32(0x20000).U32(1).U32(0x20004).U32(1).U32(0).U32(0).U32(0).U32(0).U32(0).U32(0).U32(0).Bytes },
        { "name with a backslash", Page(("a\\b", 0, null)).U32(1).U32(0).U32(0).Bytes },
        { "empty name", Page(("", 0, null)).U32(1).U32(0).U32(0).Bytes },
        { "ends before TotalEntries", Page(("a", 0, null)).Bytes },
        { "ends before the return value", Page(("a", 0, null)).U32(1).U32(0).Bytes },
        { "empty", [] },
    };

    [Theory]
    [MemberData(nameof(HostileStubs))]
    public void HostileStub_SmbProtocolException(string what, byte[] stub)
    {
        var ex = Assert.Throws<SmbProtocolException>(() => Srvsvc.DecodeShareEnum(stub));
        Assert.StartsWith("NetrShareEnum response", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(what);
    }

    /// <summary>A response fragment for call 2 carrying <paramref name="stub"/>.</summary>
    private static byte[] Fragment(byte flags, byte[] stub, byte type = DceRpc.PtypeResponse, uint callId = 2, int? fragLength = null)
    {
        var pdu = new byte[24 + stub.Length];
        pdu[0] = 5;
        pdu[2] = type;
        pdu[3] = flags;
        pdu[4] = 0x10;
        BinaryPrimitives.WriteUInt16LittleEndian(pdu.AsSpan(8), (ushort)(fragLength ?? pdu.Length));
        BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(12), callId);
        BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(16), (uint)stub.Length);
        stub.CopyTo(pdu, 24);
        return pdu;
    }

    [Fact]
    public void Fragments_ReassembledInOrder_FromReadsOfAnySize()
    {
        var stub = Page(("one", 0, "first"), ("two", 0, "second")).U32(2).U32(0).U32(0).Bytes;
        var bytes = Fragment(DceRpc.FirstFragment, stub[..20]).Concat(Fragment(0, stub[20..50])).Concat(Fragment(DceRpc.LastFragment, stub[50..])).ToArray();
        var answer = new DceRpc.ResponseAssembler(2, 1 << 20, "enum");
        foreach (var piece in bytes.Chunk(7))
        {
            Assert.False(answer.Complete);
            answer.Add(piece);
        }
        Assert.True(answer.Complete);
        Assert.Equal(stub, answer.Stub);
        Assert.Equal(["one", "two"], Srvsvc.DecodeShareEnum(answer.Stub).Shares.Select(s => s.Name));
    }

    public static TheoryData<string, byte[]> HostileFragments => new()
    {
        { "first not flagged first", Fragment(DceRpc.LastFragment, [1, 2, 3, 4]) },
        { "two first fragments", [.. Fragment(DceRpc.FirstFragment, [1]), .. Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [2])] },
        { "another call", Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [1], callId: 9) },
        { "a bind_ack", Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [1], type: DceRpc.PtypeBindAck) },
        { "frag_length under the header", Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [1], fragLength: 10) },
        { "bytes after the last", [.. Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [1]), 5, 0, 2] },
        { "past the stub limit", Fragment(DceRpc.FirstFragment, new byte[200]) },
    };

    [Theory]
    [MemberData(nameof(HostileFragments))]
    public void HostileFragments_SmbProtocolException(string what, byte[] bytes)
    {
        var answer = new DceRpc.ResponseAssembler(2, 100, "enum");
        Assert.Throws<SmbProtocolException>(() => answer.Add(bytes));
        Assert.NotNull(what);
    }

    [Fact]
    public void Fault_SmbRpcExceptionNamingTheStatus()
    {
        var status = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(status, 0x1C010002);
        var answer = new DceRpc.ResponseAssembler(2, 1 << 20, "enum");
        var ex = Assert.Throws<SmbRpcException>(() => answer.Add(Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, status, type: DceRpc.PtypeFault)));
        Assert.Equal(0x1C010002u, ex.Code);
        Assert.Contains("nca_s_op_rng_error", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BindNak_AndRejectedContext_SmbRpcException()
    {
        var nak = Fragment(DceRpc.FirstFragment | DceRpc.LastFragment, [], type: DceRpc.PtypeBindNak, callId: 1)[..18];
        BinaryPrimitives.WriteUInt16LittleEndian(nak.AsSpan(8), 18);
        Assert.Throws<SmbRpcException>(() => DceRpc.CheckBindAck(nak, 1, "bind"));

        var ack = Output(SambaCapture.SrvsvcBindAckHex);
        var resultOffset = ack.Length - 24;
        BinaryPrimitives.WriteUInt16LittleEndian(ack.AsSpan(resultOffset), 2); // provider rejection
        Assert.Throws<SmbRpcException>(() => DceRpc.CheckBindAck(ack, 1, "bind"));
    }
}
