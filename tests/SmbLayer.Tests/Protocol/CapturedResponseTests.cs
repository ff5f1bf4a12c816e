using System.Text;
using SmbLayer.Protocol;

namespace SmbLayer.Tests.Protocol;

/// <summary>Parsers against real Samba responses (see <see cref="SambaCapture"/>).</summary>
public class CapturedResponseTests
{
    [Fact]
    public void NegotiateResponse_Samba311_ParsesFieldsAndContexts()
    {
        var r = NegotiateResponse.Parse(SambaCapture.Bytes(SambaCapture.NegotiateResponse311Hex));

        Assert.Equal(SmbDialect.Smb311, r.DialectRevision);
        Assert.Equal(SecurityMode.SigningEnabled, r.SecurityMode);
        Assert.Equal(GlobalCapabilities.Dfs | GlobalCapabilities.Leasing | GlobalCapabilities.LargeMtu | GlobalCapabilities.MultiChannel, r.Capabilities);
        Assert.Equal(8388608u, r.MaxTransactSize);
        Assert.Equal(8388608u, r.MaxReadSize);
        Assert.Equal(8388608u, r.MaxWriteSize);
        Assert.Equal(Guid.Parse("00006d76-0000-0000-0000-000000000000"), r.ServerGuid);
        Assert.Equal(74, r.SecurityBuffer.Length);
        Assert.Equal(0x60, r.SecurityBuffer[0]); // GSS-API InitialContextToken
        Assert.Equal(3, r.NegotiateContexts.Count);
        Assert.Equal(PreauthHashAlgorithm.Sha512, r.PreauthHashAlgorithm);
        Assert.Equal(32, r.PreauthSalt!.Length);
        Assert.Equal(Convert.FromHexString("472830902db23975504f4f27cf380023158390dfe40d45f981747d9fdaa79086"), r.PreauthSalt);
        Assert.Equal(CipherId.Aes128Gcm, r.Cipher);
        Assert.Equal(Smb2SigningAlgorithmId.AesGmac, r.SigningAlgorithm);
        Assert.True(FileTime.ToDateTimeOffset(r.SystemTime).Year >= 2024);
    }

    [Fact]
    public void SessionSetupResponse_MoreProcessing_CarriesNtlmChallenge()
    {
        var r = SessionSetupResponse.Parse(SambaCapture.Bytes(SambaCapture.SessionSetupMoreProcessingHex));

        Assert.Equal(SessionFlags.None, r.SessionFlags);
        Assert.Equal(132, r.SecurityBuffer.Length);
        Assert.Contains("NTLMSSP", Encoding.ASCII.GetString(r.SecurityBuffer), StringComparison.Ordinal);
    }

    [Fact]
    public void SessionSetupResponse_Guest_ReportsGuestAndBlob()
    {
        var r = SessionSetupResponse.Parse(SambaCapture.Bytes(SambaCapture.SessionSetupGuestHex));

        Assert.True(r.IsGuest);
        Assert.False(r.IsNull);
        Assert.False(r.EncryptData);
        Assert.Equal(Convert.FromHexString("a1073005a0030a0100"), r.SecurityBuffer);
    }

    [Fact]
    public void TreeConnectResponse_DiskShare_ParsesTypeAndAccess()
    {
        var r = TreeConnectResponse.Parse(SambaCapture.Bytes(SambaCapture.TreeConnectResponseHex));

        Assert.Equal(ShareType.Disk, r.ShareType);
        Assert.Equal(ShareFlags.ManualCaching, r.ShareFlags);
        Assert.False(r.EncryptData);
        Assert.False(r.IsContinuouslyAvailable);
        Assert.Equal((AccessMask)0x001F01FF, r.MaximalAccess);
    }

    [Fact]
    public void TreeDisconnectResponse_Samba_Parses()
    {
        Assert.NotNull(TreeDisconnectResponse.Parse(SambaCapture.Bytes(SambaCapture.TreeDisconnectResponseHex)));
    }

    [Fact]
    public void CreateResponse_ShareRoot_IsOpenedDirectory()
    {
        var r = CreateResponse.Parse(SambaCapture.Bytes(SambaCapture.CreateResponseRootHex));

        Assert.Equal(OplockLevel.None, r.OplockLevel);
        Assert.Equal(CreateAction.Opened, r.CreateAction);
        Assert.Equal(FileAttributes.Directory, r.FileAttributes);
        Assert.Equal(0, r.EndOfFile);
        Assert.Empty(r.CreateContexts);
        Assert.NotEqual(default, r.FileId);
    }

    [Fact]
    public void QueryDirectoryResponse_IdBoth_EnumeratesThreeEntries()
    {
        var message = SambaCapture.Bytes(SambaCapture.QueryDirectoryIdBothHex);
        var r = QueryDirectoryResponse.Parse(message);
        var entries = DirectoryEntryParser.Parse(message.AsSpan()[r.OutputBufferRange], FileInformationClass.FileIdBothDirectoryInformation);

        Assert.Equal(338, r.OutputBufferLength);
        Assert.Equal([".", "..", "a.txt"], entries.Select(e => e.FileName));
        Assert.True(entries[0].IsDirectory && entries[0].IsDotEntry);
        var file = entries[2];
        Assert.Equal(6, file.EndOfFile);
        Assert.Equal(4096, file.AllocationSize);
        Assert.Equal(FileAttributes.Normal, file.FileAttributes); // 0x80
        Assert.NotNull(file.FileId);
        Assert.True(file.LastWriteTimeUtc.Year >= 2024);
    }

    [Fact]
    public void ErrorResponse_NoMoreFiles_HasEmptyErrorData()
    {
        var message = SambaCapture.Bytes(SambaCapture.ErrorNoMoreFilesHex);
        var header = Smb2Header.ReadFrom(message);
        var r = Smb2ErrorResponse.Parse(message);

        Assert.Equal(NtStatus.NoMoreFiles, header.NtStatus);
        Assert.True(Smb2ErrorResponse.IsErrorBody(message));
        Assert.Equal(0, r.ErrorContextCount);
        Assert.Equal(0u, r.ByteCount);
        Assert.Empty(r.ErrorContexts);
    }

    [Fact]
    public void CloseResponse_WithoutPostQuery_HasNoAttributes()
    {
        var r = CloseResponse.Parse(SambaCapture.Bytes(SambaCapture.CloseResponseHex));

        Assert.False(r.HasAttributes);
        Assert.Equal(0, r.EndOfFile);
    }

    [Fact]
    public void QueryInfoResponse_FsSize_DecodesFileFsSizeInformation()
    {
        var message = SambaCapture.Bytes(SambaCapture.QueryInfoFsSizeHex);
        var r = QueryInfoResponse.Parse(message);
        var info = FileFsSizeInformation.Parse(message.AsSpan()[r.OutputBufferRange]);

        Assert.Equal(FileFsSizeInformation.Size, r.OutputBufferLength);
        Assert.Equal(264212084, info.TotalAllocationUnits);
        Assert.Equal(2u, info.SectorsPerAllocationUnit);
        Assert.Equal(512u, info.BytesPerSector);
        Assert.Equal(1024, info.BytesPerAllocationUnit);
    }

    [Fact]
    public void QueryInfoResponse_FileAll_DecodesFileAllInformation()
    {
        var message = SambaCapture.Bytes(SambaCapture.QueryInfoFileAllHex);
        var r = QueryInfoResponse.Parse(message);
        var info = FileAllInformation.Parse(message.AsSpan()[r.OutputBufferRange]);

        Assert.Equal(6, info.Standard.EndOfFile);
        Assert.False(info.Standard.Directory);
        Assert.Equal(FileAttributes.Normal, info.Basic.FileAttributes);
        Assert.EndsWith("a.txt", info.FileName, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadResponse_SmallFile_DataRangeSlicesContent()
    {
        var message = SambaCapture.Bytes(SambaCapture.ReadResponseHex);
        var r = ReadResponse.Parse(message);

        Assert.Equal(0x50, r.DataOffset);
        Assert.Equal("hello\n", Encoding.ASCII.GetString(message.AsSpan()[r.DataRange]));
        Assert.Equal(0u, r.DataRemaining);
    }
}
