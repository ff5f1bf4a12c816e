using System.Buffers.Binary;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Protocol;

internal static class WireTestHelpers
{
    private const byte Sentinel = 0xCC;

    /// <summary>Encodes a request after a zeroed 64-byte header, checking WriteBody stays inside BodySize.</summary>
    public static byte[] Encode(ISmb2Request request)
    {
        var size = request.BodySize;
        var buffer = new byte[Smb2Header.Size + size + 16];
        buffer.AsSpan().Fill(Sentinel);
        new Smb2Header { Command = request.Command }.WriteTo(buffer);
        request.WriteBody(buffer.AsSpan(Smb2Header.Size, size));
        Assert.All(buffer[(Smb2Header.Size + size)..], b => Assert.Equal(Sentinel, b));
        return buffer[..(Smb2Header.Size + size)];
    }

    public static ushort U16(byte[] m, int headerOffset) => BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(headerOffset));
    public static uint U32(byte[] m, int headerOffset) => BinaryPrimitives.ReadUInt32LittleEndian(m.AsSpan(headerOffset));
    public static ulong U64(byte[] m, int headerOffset) => BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(headerOffset));

    /// <summary>A response message: a response header for <paramref name="command"/> followed by <paramref name="body"/>.</summary>
    public static byte[] Response(Smb2Command command, byte[] body, NtStatus status = NtStatus.Success)
    {
        var m = new byte[Smb2Header.Size + body.Length];
        new Smb2Header { Command = command, Flags = Smb2HeaderFlags.ServerToRedir, Status = (uint)status, Credits = 1 }.WriteTo(m);
        body.CopyTo(m, Smb2Header.Size);
        return m;
    }

    /// <summary>Little-endian byte builder for hand-written spec layouts.</summary>
    internal sealed class Le
    {
        private readonly List<byte> _bytes = [];
        public int Length => _bytes.Count;
        public Le U8(int v) { _bytes.Add((byte)v); return this; }
        public Le U16(int v) { _bytes.Add((byte)v); _bytes.Add((byte)(v >> 8)); return this; }
        public Le U32(uint v) { for (var i = 0; i < 4; i++) { _bytes.Add((byte)(v >> (8 * i))); } return this; }
        public Le U64(ulong v) { for (var i = 0; i < 8; i++) { _bytes.Add((byte)(v >> (8 * i))); } return this; }
        public Le Raw(ReadOnlySpan<byte> b) { foreach (var x in b) { _bytes.Add(x); } return this; }
        public Le Zeros(int n) { for (var i = 0; i < n; i++) { _bytes.Add(0); } return this; }
        public Le Guid(Guid g) => Raw(g.ToByteArray());
        public Le Utf16(string s) => Raw(System.Text.Encoding.Unicode.GetBytes(s));
        public Le PadTo8() { while (_bytes.Count % 8 != 0) { _bytes.Add(0); } return this; }
        public byte[] ToArray() => [.. _bytes];
    }
}
