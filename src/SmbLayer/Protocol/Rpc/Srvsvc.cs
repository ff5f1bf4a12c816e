namespace SmbLayer.Protocol.Rpc;

/// <summary>One page of NetrShareEnum's answer: the shares, the server's total, where to resume, and its error code.</summary>
internal sealed record ShareEnumPage(IReadOnlyList<SmbShareInfo> Shares, uint TotalEntries, uint? ResumeHandle, uint Error);

/// <summary>
/// The server service (MS-SRVS) over \PIPE\srvsvc: NetrShareEnum (opnum 15, Samba's NetShareEnumAll) at level 1,
/// SHARE_INFO_1 (name, type, remark), encoded and decoded in NDR with every count and string checked.
/// </summary>
internal static class Srvsvc
{
    /// <summary>srvsvc interface 4b324fc8-1670-01d3-1278-5a47bf6ee188, version 3.0.</summary>
    public static readonly Guid Interface = new("4b324fc8-1670-01d3-1278-5a47bf6ee188");
    public const ushort InterfaceMajor = 3;
    public const ushort InterfaceMinor = 0;

    public const ushort NetrShareEnumOpnum = 15;

    /// <summary>Shares one answer may list; more is refused (a share list is not this long).</summary>
    public const int MaxShares = 65_536;

    /// <summary>Characters a share name or remark may have (MS-SRVS limits names to 80; remarks are short too).</summary>
    public const int MaxStringChars = 4096;

    /// <summary>ERROR_MORE_DATA: the answer is a page; ask again from the resume handle.</summary>
    public const uint ErrorMoreData = 234;

    private const string Name = "NetrShareEnum response";

    /// <summary>The request: ServerName, InfoStruct (level 1, an empty container), PreferedMaximumLength, ResumeHandle.</summary>
    public static byte[] EncodeShareEnum(string serverName, uint resumeHandle)
    {
        var ndr = new NdrWriter();
        ndr.Referent(); // ServerName: [unique, string]
        ndr.ConformantVaryingString(@"\\" + serverName);
        ndr.U32(1); // InfoStruct->Level
        ndr.U32(1); // the union's discriminant
        ndr.Referent(); // ShareInfo.Level1: a container...
        ndr.U32(0); // ...with EntriesRead 0
        ndr.U32(0); // and a null Buffer
        ndr.U32(uint.MaxValue); // PreferedMaximumLength: all there is
        ndr.Referent(); // ResumeHandle: [unique]
        ndr.U32(resumeHandle);
        return ndr.ToArray();
    }

    /// <summary>Decodes the answer's stub; a bad count, pointer or string is an <see cref="SmbProtocolException"/>.</summary>
    public static ShareEnumPage DecodeShareEnum(ReadOnlySpan<byte> stub)
    {
        var ndr = new NdrReader(stub, Name);
        var level = ndr.U32("InfoStruct.Level");
        var discriminant = ndr.U32("InfoStruct.ShareInfo discriminant");
        if (level != 1 || discriminant != 1)
        {
            throw new SmbProtocolException($"{Name}: level {level} (union arm {discriminant}); level 1 was asked for.");
        }
        var shares = new List<SmbShareInfo>();
        if (ndr.Pointer("ShareInfo.Level1") != 0)
        {
            var entriesRead = ndr.U32("Level1.EntriesRead");
            var buffer = ndr.Pointer("Level1.Buffer");
            if (entriesRead > MaxShares)
            {
                throw new SmbProtocolException($"{Name}: EntriesRead {entriesRead}, more than {MaxShares}.");
            }
            if (buffer == 0 && entriesRead != 0)
            {
                throw new SmbProtocolException($"{Name}: EntriesRead {entriesRead} with a null Buffer.");
            }
            if (buffer != 0)
            {
                var count = ndr.U32("Buffer.MaximumCount");
                if (count != entriesRead)
                {
                    throw new SmbProtocolException($"{Name}: the array has {count} elements, EntriesRead says {entriesRead}.");
                }
                // Each SHARE_INFO_1 is three 32-bit fields: the array must fit in what is left before it is allocated.
                if ((long)count * 12 > ndr.Remaining)
                {
                    throw new SmbProtocolException($"{Name}: {count} entries need {(long)count * 12} bytes, {ndr.Remaining} left.");
                }
                var fixedParts = new (uint Name, uint Type, uint Remark)[count];
                for (var i = 0; i < count; i++)
                {
                    fixedParts[i] = (ndr.Pointer($"Buffer[{i}].shi1_netname"), ndr.U32($"Buffer[{i}].shi1_type"), ndr.Pointer($"Buffer[{i}].shi1_remark"));
                }
                for (var i = 0; i < count; i++)
                {
                    var (namePointer, type, remarkPointer) = fixedParts[i];
                    if (namePointer == 0)
                    {
                        throw new SmbProtocolException($"{Name}: entry {i} has no name.");
                    }
                    var name = ndr.ConformantVaryingString($"Buffer[{i}].shi1_netname", MaxStringChars);
                    var remark = remarkPointer == 0 ? "" : ndr.ConformantVaryingString($"Buffer[{i}].shi1_remark", MaxStringChars);
                    if (name.Length == 0 || name.AsSpan().IndexOfAny('\\', '/') >= 0)
                    {
                        throw new SmbProtocolException($"{Name}: entry {i} is named \"{name}\", which no share can be.");
                    }
                    shares.Add(new SmbShareInfo(name, type, remark));
                }
            }
        }
        var total = ndr.U32("TotalEntries");
        uint? resume = ndr.Pointer("ResumeHandle") != 0 ? ndr.U32("*ResumeHandle") : null;
        var error = ndr.U32("return value");
        return new ShareEnumPage(shares, total, resume, error);
    }
}
